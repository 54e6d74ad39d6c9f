"""The history sidebar: New chat, search, the user's conversations (pinned on top, their folders, the rest grouped
by age), rename and delete, pin, archive (and the Archived view), folders and moving conversations between them."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import TypeVar

from nicegui import background_tasks, ui

from chatapp.components.conversation_list import ConversationList
from chatapp.events import ConversationChanged, Event, user_topic
from chatapp.models import Access, Conversation, utcnow
from chatapp.pages.folder_dialogs import ask_delete_folder, ask_folder_name
from chatapp.pages.model_picker import short_count
from chatapp.places import MAX_FOLDERS, FolderRows, Shelves
from chatapp.search import SearchHit
from chatapp.services import Services
from chatapp.store import PAGE_SIZE, ConversationStore

RELOAD_DELAY_SECONDS = 0.3  # changes within this time cost one reload (20 tabs sending at once: not 20 each)
RELOAD_INTERVAL_SECONDS = 1.0  # and a longer burst of changes costs one reload a second, not one per change
MAX_SEARCH_CHARS = 200
E = TypeVar('E', bound=ui.element)
_ID = re.compile(r'[0-9A-Za-z-]{1,36}')  # a conversation's or a folder's (uuid4; the benchmark's are shorter)


def an_id(value: object) -> str | None:
    """`value` if it can be an id: an event's arguments are whatever the page's script sent."""
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


_queries: dict[tuple[str, int, frozenset[str]], tuple[float, asyncio.Future[Shelves]]] = {}


async def list_once(store: ConversationStore, user_id: str, limit: int, *, changed_at: float,
                    open_folders: frozenset[str] = frozenset()) -> Shelves:
    """The user's sidebar lists (the rows of the folders open); sidebars reloading at the same time (one person's
    tabs, after a change they all hear of) share one query, if it started after the change. The rows are only
    read."""
    key = (user_id, limit, open_folders)
    if key not in _queries or _queries[key][0] < changed_at:
        query = asyncio.ensure_future(store.shelves(user_id, limit=limit, open_folders=open_folders))
        _queries[key] = (time.monotonic(), query)

        def forget(_: object) -> None:
            if key in _queries and _queries[key][1] is query:
                del _queries[key]
        query.add_done_callback(forget)
    return await asyncio.shield(_queries[key][1])  # a page that closes does not cancel the others' query


class Sidebar:
    """One per page: lists the user's conversations and follows their changes live."""

    def __init__(self, services: Services, user_id: str, active_id: str | None,
                 on_open: Callable[[str, int | None], None], login_lapsed: Callable[[], bool] = lambda: False) -> None:
        """`on_open(conversation_id, message_id)`: go to a conversation ('' a new one), showing a message of it."""
        self.services = services
        self.user_id = user_id
        self.active_id = active_id
        self.on_open = on_open
        self.login_lapsed = login_lapsed  # True (and a re-login dialog shown) when the login ended
        self.search = ''
        self.hits: dict[str, SearchHit] = {}  # by conversation, while searching
        self.archived = False  # the Archived view, not the list
        self.pinned: list[Conversation] = []
        self.filed: list[FolderRows] = []  # the folders with (the newest of) what the open ones hold
        self.open_folders: frozenset[str] = frozenset()  # as the page says (it remembers which the person opened)
        self.conversations: list[Conversation] = []  # the rest of the list, the archived ones or the search results
        self.has_more = False
        self._reload_task: asyncio.Task | None = None
        self._changed_at = 0.0  # when the last change this sidebar must show was heard of
        self._reloaded_at = 0.0
        self._note: ui.label | None = None
        self._more: ui.button | None = None
        with ui.column().classes('w-full gap-2 p-3 h-full no-wrap') as self.root:
            ui.button('New chat', icon='edit_square', on_click=lambda: self.on_open('', None)) \
                .props('unelevated no-caps align=left data-testid=new-chat').classes('w-full')
            ui.input(placeholder='Search conversations', on_change=lambda e: self._search(e.value)) \
                .props('dense outlined clearable debounce=300 data-testid=search').classes('w-full').mark('search') \
                .on('keydown.enter', lambda e: self._open_first(e.args), js_handler='(e) => emit(e.target.value)') \
                .add_slot('prepend', '<q-icon name="search" />')
            with ui.row().classes('w-full items-center no-wrap gap-1 archived-bar') as self.archived_bar:
                ui.button(icon='arrow_back', on_click=lambda: self._show_archived(False)) \
                    .props('flat dense round aria-label="Back to conversations" data-testid=archived-back')
                ui.label('Archived').classes('text-sm font-medium')
            self.archived_bar.set_visibility(False)
            with ui.column().classes('w-full gap-0 overflow-y-auto flex-1 no-wrap') as self.list:
                self.rows = ConversationList({
                    'open': self._open, 'rename': self._rename, 'delete': self._delete, 'pin': self._pin,
                    'archive': self._archive, 'move': self._move, 'move_new': self._move_new,
                    'rename_folder': self._rename_folder, 'delete_folder': self._delete_folder,
                    'folders_open': self._folders_open}).classes('w-full')
            with ui.row().classes('w-full no-wrap gap-1 sidebar-tools') as self.tools:
                ui.button('New folder', icon='create_new_folder', on_click=self._new_folder) \
                    .props('flat dense no-caps align=left data-testid=new-folder').classes('col')
                ui.button('Archived', icon='inventory_2', on_click=lambda: self._show_archived(True)) \
                    .props('flat dense no-caps align=left data-testid=archived-view').classes('col')
            self.usage = ui.label().classes('usage-note').props('data-testid=usage-note')
        self.rows.set_active(active_id)
        self.stop_following = services.bus.subscribe(user_topic(user_id), self._on_event)
        ui.context.client.on_delete(self.stop_following)
        ui.context.client.on_delete(self._cancel_reload)

    async def load(self) -> None:
        self._shelve(await self.services.store.shelves(self.user_id, open_folders=self.open_folders))
        self.has_more = len(self.conversations) == PAGE_SIZE
        self._render()
        await self.show_usage()

    def _shelve(self, shelves: Shelves) -> None:
        self.pinned, self.filed, self.conversations = shelves.pinned, shelves.folders, shelves.recent

    async def show_usage(self) -> None:
        """What the person's replies and titles took this month (UTC): tokens, and dollars where prices are set."""
        since = utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        tokens, cost = await self.services.store.usage_since(self.user_id, since)
        dollars = '' if not cost else ' · <$0.01' if cost < 0.01 else f' · ${cost:.2f}'
        text = f'This month: {short_count(tokens)} tokens{dollars}'
        if text != self.usage.text:  # one person's 20 tabs: no update where nothing changed
            self.usage.set_text(text)

    async def load_more(self) -> None:
        if not self.conversations or self.search or self.login_lapsed():
            return
        last = self.conversations[-1]
        page = await self.services.store.list_conversations(self.user_id, before=(last.updated_at, last.id),
                                                            archived=self.archived)
        self.conversations = [*self.conversations, *page]  # a new list: tabs that reloaded together share theirs
        self.has_more = len(page) == PAGE_SIZE
        self._render()

    def set_active(self, conversation_id: str | None) -> None:
        self.active_id = conversation_id
        self.rows.set_active(conversation_id)

    def _search(self, text: str | None) -> bool:
        """Search for `text` (from now on, as conversations change); False when it is refused."""
        if self.login_lapsed():
            return False
        text = (text or '').strip()
        if len(text) > MAX_SEARCH_CHARS:
            ui.notify(f'Search for at most {MAX_SEARCH_CHARS} characters.', type='warning', position='top')
            return False
        self.search = text
        self._schedule_reload(delay=0.0)  # the input already debounces typing
        return True

    def _show_archived(self, archived: bool) -> None:
        """The Archived view (with Restore), or back to the list."""
        if archived == self.archived or self.login_lapsed():
            return
        self.archived, self.conversations = archived, []
        self.archived_bar.set_visibility(archived)
        self.tools.set_visibility(not archived)
        self._schedule_reload(delay=0.0)

    def _open(self, conversation_id: object) -> None:
        """A row opened: a search result at its message."""
        conversation_id = an_id(conversation_id)
        if conversation_id is None:
            return
        hit = self.hits.get(conversation_id)
        self.on_open(conversation_id, hit.message_id if hit is not None else None)

    async def _open_first(self, text: object) -> None:
        """Enter in the search field: the first result of what is typed (which the debounce may not have sent)."""
        text = str(text or '').strip()
        if text != self.search:
            if not self._search(text):
                return
            if self._reload_task is not None:
                await self._reload_task
        if self.search and self.conversations:
            self._open(self.conversations[0].id)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ConversationChanged):
            self._schedule_reload()

    def _schedule_reload(self, delay: float | None = None) -> None:
        """Reload after `delay`; by default (a change heard of) soon, but at most once a second: one
        person's 20 tabs sending at once re-send each tab's list a few times, not 20 times."""
        self._changed_at = now = time.monotonic()
        if delay is None:
            delay = max(RELOAD_DELAY_SECONDS, self._reloaded_at + RELOAD_INTERVAL_SECONDS - now)
        # several changes in a burst (send + rename, a search being typed) cost one query
        if self._reload_task is None or self._reload_task.done():
            self._reload_task = background_tasks.create(self._reload_soon(delay), name='sidebar-reload')

    def _cancel_reload(self) -> None:
        if self._reload_task is not None:
            self._reload_task.cancel()

    async def _reload_soon(self, delay: float) -> None:
        await asyncio.sleep(delay)
        shown = max(len(self.conversations), PAGE_SIZE)
        store = self.services.store
        while True:  # a search typed, a view switched or a change heard of while the query ran: ask again
            asked = (self.search, self.archived, self._changed_at, self.open_folders)
            hits, shelves = [], None
            if self.search:
                hits = await store.search(self.user_id, self.search)
                rows = [hit.conversation for hit in hits]
            elif self.archived:
                rows = await store.list_conversations(self.user_id, limit=shown, archived=True)
            else:
                shelves = await list_once(store, self.user_id, shown, changed_at=self._changed_at,
                                          open_folders=self.open_folders)
                rows = shelves.recent
            if asked == (self.search, self.archived, self._changed_at, self.open_folders):
                break
        self.hits = {hit.conversation.id: hit for hit in hits}
        if shelves is not None:
            self.pinned, self.filed = shelves.pinned, shelves.folders
        self.conversations = rows
        self.has_more = not self.search and len(rows) == shown
        self._reloaded_at = time.monotonic()
        self._render()

    def _render(self) -> None:
        """Bring the list up to date: one property of one element, whatever changed."""
        listed = not self.search and not self.archived
        with self.list:
            empty = not self.conversations and not (listed and (self.pinned or self.filed))
            self._note = self._keep(self._note, empty, self._new_note)
            if self._note:
                self._note.set_text('No matching conversations.' if self.search else 'No archived conversations.'
                                    if self.archived else 'No conversations yet.')
            rows = [*self.pinned, *(c for f in self.filed for c in f.conversations), *self.conversations] if listed \
                else self.conversations
            self.rows.show(rows, self.user_id, self.hits if self.search else None,
                           [(f.folder, f.count, f.loaded) for f in self.filed])
            self._more = self._keep(self._more, self.has_more, lambda: ui.button('Show more', on_click=self.load_more)
                                    .props('flat dense no-caps data-testid=show-more').classes('w-full'))

    @staticmethod
    def _keep(element: E | None, needed: bool, create: Callable[[], E]) -> E | None:
        """The element if it is needed (created if missing), else None (deleted if present)."""
        if needed:
            return element or create()
        if element:
            element.delete()
        return None

    @staticmethod
    def _new_note() -> ui.label:
        return ui.label().classes('text-sm text-grey-6 px-2 py-4')

    async def _owns(self, conversation_id: str) -> bool:
        """Only its owner renames or deletes a conversation (a shared one's menu offers neither to anyone else)."""
        return await self.services.store.access_of(self.user_id, conversation_id) == Access.OWNER

    def _conversation(self, conversation_id: object) -> Conversation | None:
        """The row's latest version, unless it was deleted meanwhile (in another tab)."""
        filed = (c for f in self.filed for c in f.conversations)
        return next((c for c in (*self.pinned, *filed, *self.conversations) if c.id == conversation_id), None)

    async def _rename(self, conversation_id: object) -> None:
        conversation = self._conversation(conversation_id)
        if conversation is None or self.login_lapsed() or not await self._owns(conversation_id):
            return
        # dialogs live in the sidebar's root, which survives the list being re-rendered under them
        with self.root, ui.dialog() as dialog, ui.card().classes('w-96'):
            ui.label('Rename conversation').classes('text-lg font-medium')
            title = ui.input(value=conversation.title).props('autofocus outlined dense data-testid=rename-input') \
                .classes('w-full') \
                .on('keydown', lambda: dialog.submit(title.value), js_handler='(e) => chatappSendOnEnter(e, emit)')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')
                ui.button('Rename', on_click=lambda: dialog.submit(title.value)).props('unelevated no-caps')
        new_title = (await dialog or '').strip()
        dialog.delete()
        if not new_title or new_title == conversation.title:
            return
        if await self.services.store.rename_conversation(self.user_id, conversation.id, new_title) is None:
            ui.notify('This conversation does not exist.', type='warning')

    async def _delete(self, conversation_id: object) -> None:
        conversation = self._conversation(conversation_id)
        if conversation is None or self.login_lapsed() or not await self._owns(conversation_id):
            return  # nor may its reply be stopped on the way
        with self.root, ui.dialog() as dialog, ui.card().classes('w-96'):
            ui.label('Delete conversation?').classes('text-lg font-medium')
            ui.label(f'"{conversation.title}" and all its messages will be deleted for good.') \
                .classes('text-sm')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=lambda: dialog.submit(False)).props('flat no-caps')
                ui.button('Delete', color='negative', on_click=lambda: dialog.submit(True)) \
                    .props('unelevated no-caps data-testid=confirm-delete')
        confirmed = await dialog
        dialog.delete()
        if not confirmed:
            return
        self.services.engine.stop(self.user_id, conversation.id)
        if not await self.services.store.delete_conversation(self.user_id, conversation.id):
            ui.notify('This conversation does not exist.', type='warning')
        elif conversation.id == self.active_id:
            self.on_open('', None)

    # --- where the person keeps a conversation: pinned, archived, in a folder ---

    def _folders_open(self, args: object) -> None:
        """The folders the page has open: their rows are read, a closed folder's are not (only its count)."""
        if not isinstance(args, list) or len(args) > MAX_FOLDERS:
            return
        opened = frozenset(folder for folder in map(an_id, args) if folder is not None)
        newly = opened - self.open_folders
        self.open_folders = opened
        if newly and not self.login_lapsed():
            self._schedule_reload(delay=0.0)

    async def _pin(self, args: object) -> None:
        target = _id_and_flag(args)
        if target is not None and not self.login_lapsed() and not await self.services.store.set_pinned(
                self.user_id, *target):
            _gone('conversation')

    async def _archive(self, args: object) -> None:
        target = _id_and_flag(args)
        if target is not None and not self.login_lapsed() and not await self.services.store.set_archived(
                self.user_id, *target):
            _gone('conversation')

    async def _move(self, args: object) -> None:
        """Into a folder (by drag and drop or Move to), or out of it ('')."""
        if not isinstance(args, list) or len(args) != 2 or self.login_lapsed():
            return
        conversation_id, folder_id = an_id(args[0]), None if args[1] == '' else an_id(args[1])
        if conversation_id is None or (folder_id is None and args[1] != ''):
            return
        if not await self.services.store.move_to_folder(self.user_id, conversation_id, folder_id):
            _gone('conversation or folder')

    async def _move_new(self, conversation_id: object) -> None:
        """Move to a new folder: named first."""
        conversation_id = an_id(conversation_id)
        if conversation_id is None or self.login_lapsed():
            return
        folder = await self._create_folder()
        if folder is None:
            return
        if await self.services.store.move_to_folder(self.user_id, conversation_id, folder):
            self.rows.reveal(folder)
        else:
            _gone('conversation')

    async def _new_folder(self) -> None:
        if not self.login_lapsed():
            await self._create_folder()

    async def _create_folder(self) -> str | None:
        name = await ask_folder_name(self.root, 'New folder', 'Create')
        if not name:
            return None
        folder = await self.services.store.create_folder(self.user_id, name)
        if folder is None:
            ui.notify('No more folders can be made.', type='warning')
        return folder.id if folder is not None else None

    def _folder(self, folder_id: object) -> FolderRows | None:
        return next((f for f in self.filed if f.folder.id == folder_id), None)

    async def _rename_folder(self, folder_id: object) -> None:
        shelf = self._folder(an_id(folder_id))
        if shelf is None or self.login_lapsed():
            return
        name = await ask_folder_name(self.root, 'Rename folder', 'Rename', shelf.folder.name)
        if name and name != shelf.folder.name and \
                await self.services.store.rename_folder(self.user_id, shelf.folder.id, name) is None:
            _gone('folder')

    async def _delete_folder(self, folder_id: object) -> None:
        shelf = self._folder(an_id(folder_id))
        if shelf is None or self.login_lapsed():
            return
        keep = await ask_delete_folder(self.root, shelf.folder.name, shelf.count)
        if keep is None:
            return
        deleted = await self.services.store.delete_folder(self.user_id, shelf.folder.id, keep_conversations=keep)
        if deleted is None:
            _gone('folder')
            return
        for conversation_id in deleted:  # what they were writing stops, as for a conversation deleted alone
            self.services.engine.stop(self.user_id, conversation_id)
        if self.active_id in deleted:
            self.on_open('', None)


def _id_and_flag(args: object) -> tuple[str, bool] | None:
    """[conversation id, true or false] from the page, or None."""
    if not isinstance(args, list) or len(args) != 2 or not isinstance(args[1], bool):
        return None
    conversation_id = an_id(args[0])
    return (conversation_id, args[1]) if conversation_id is not None else None


def _gone(what: str) -> None:
    ui.notify(f'This {what} does not exist.', type='warning')
