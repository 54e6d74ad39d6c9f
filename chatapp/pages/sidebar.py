"""The history sidebar: New chat, search, the user's conversations grouped by age, rename and delete."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

from nicegui import background_tasks, ui

from chatapp.components.conversation_list import ConversationList
from chatapp.events import ConversationChanged, Event, user_topic
from chatapp.models import Access, Conversation, utcnow
from chatapp.pages.model_picker import short_count
from chatapp.search import SearchHit
from chatapp.services import Services
from chatapp.store import PAGE_SIZE, ConversationStore

RELOAD_DELAY_SECONDS = 0.3  # changes within this time cost one reload (20 tabs sending at once: not 20 each)
RELOAD_INTERVAL_SECONDS = 1.0  # and a longer burst of changes costs one reload a second, not one per change
MAX_SEARCH_CHARS = 200
E = TypeVar('E', bound=ui.element)


_queries: dict[tuple[str, int], tuple[float, asyncio.Future[list[Conversation]]]] = {}


async def list_once(store: ConversationStore, user_id: str, limit: int, *, changed_at: float) -> list[Conversation]:
    """The user's conversations; sidebars reloading at the same time (one person's tabs, after a change
    they all hear of) share one query, if it started after the change. The rows are only read."""
    key = (user_id, limit)
    if key not in _queries or _queries[key][0] < changed_at:
        query = asyncio.ensure_future(store.list_conversations(user_id, limit=limit))
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
        self.conversations: list[Conversation] = []
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
            with ui.column().classes('w-full gap-0 overflow-y-auto flex-1 no-wrap') as self.list:
                self.rows = ConversationList(on_open=self._open, on_rename=self._rename,
                                             on_delete=self._delete).classes('w-full')
            self.usage = ui.label().classes('usage-note').props('data-testid=usage-note')
        self.rows.set_active(active_id)
        self.stop_following = services.bus.subscribe(user_topic(user_id), self._on_event)
        ui.context.client.on_delete(self.stop_following)
        ui.context.client.on_delete(self._cancel_reload)

    async def load(self) -> None:
        self.conversations = await self.services.store.list_conversations(self.user_id)
        self.has_more = len(self.conversations) == PAGE_SIZE
        self._render()
        await self.show_usage()

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
        page = await self.services.store.list_conversations(self.user_id, before=(last.updated_at, last.id))
        self.conversations += page
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

    def _open(self, conversation_id: str) -> None:
        """A row opened: a search result at its message."""
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
        while True:  # a search typed or a change heard of while the query ran: ask again
            asked = (self.search, self._changed_at)
            if self.search:
                hits = await self.services.store.search(self.user_id, self.search)
                rows = [hit.conversation for hit in hits]
            else:
                hits, rows = [], await list_once(self.services.store, self.user_id, shown, changed_at=self._changed_at)
            if asked == (self.search, self._changed_at):
                break
        self.hits = {hit.conversation.id: hit for hit in hits}
        self.conversations = rows
        self.has_more = not self.search and len(rows) == shown
        self._reloaded_at = time.monotonic()
        self._render()

    def _render(self) -> None:
        """Bring the list up to date: one property of one element, whatever changed."""
        with self.list:
            self._note = self._keep(self._note, not self.conversations, self._new_note)
            if self._note:
                self._note.set_text('No matching conversations.' if self.search else 'No conversations yet.')
            self.rows.show(self.conversations, self.user_id, self.hits if self.search else None)
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
        """Only its owner renames or deletes a conversation (a shared one's row offers no menu to anyone else)."""
        return await self.services.store.access_of(self.user_id, conversation_id) == Access.OWNER

    def _conversation(self, conversation_id: str) -> Conversation | None:
        """The row's latest version, unless it was deleted meanwhile (in another tab)."""
        return next((c for c in self.conversations if c.id == conversation_id), None)

    async def _rename(self, conversation_id: str) -> None:
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

    async def _delete(self, conversation_id: str) -> None:
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
