"""The history sidebar: New chat, search, the user's conversations grouped by age, rename and delete."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from nicegui import background_tasks, ui

from chatapp.events import ConversationChanged, Event, user_topic
from chatapp.models import Conversation
from chatapp.services import services
from chatapp.store import PAGE_SIZE

SEARCH_DEBOUNCE_SECONDS = 0.3


def age_group(updated_at: datetime, now: datetime) -> str:
    """Today / Yesterday / Previous 7 days / Older, by the server's local calendar."""
    local = updated_at.replace(tzinfo=UTC).astimezone()
    today = now.astimezone().date()
    days = (today - local.date()).days
    if days <= 0:
        return 'Today'
    if days == 1:
        return 'Yesterday'
    if days <= 7:
        return 'Previous 7 days'
    return 'Older'


class Sidebar:
    """One per page: lists the user's conversations and follows their changes live."""

    def __init__(self, user_id: str, active_id: str | None, on_open: Callable[[str], None],
                 login_lapsed: Callable[[], bool] = lambda: False) -> None:
        self.user_id = user_id
        self.active_id = active_id
        self.on_open = on_open
        self.login_lapsed = login_lapsed  # True (and a re-login dialog shown) when the login ended
        self.search = ''
        self.conversations: list[Conversation] = []
        self.has_more = False
        self._reload_task: asyncio.Task | None = None
        with ui.column().classes('w-full gap-2 p-3 h-full no-wrap') as self.root:
            ui.button('New chat', icon='edit_square', on_click=lambda: self.on_open('')) \
                .props('unelevated no-caps align=left data-testid=new-chat').classes('w-full')
            ui.input(placeholder='Search conversations', on_change=lambda e: self._search(e.value)) \
                .props('dense outlined clearable debounce=300 data-testid=search').classes('w-full').mark('search') \
                .add_slot('prepend', '<q-icon name="search" />')
            self.list = ui.column().classes('w-full gap-0 overflow-y-auto flex-1 no-wrap')
        unsubscribe = services().bus.subscribe(user_topic(user_id), self._on_event)
        ui.context.client.on_delete(unsubscribe)

    async def load(self) -> None:
        self.conversations = await services().store.list_conversations(self.user_id, search=self.search)
        self.has_more = len(self.conversations) == PAGE_SIZE
        self._render()

    async def load_more(self) -> None:
        if not self.conversations:
            return
        last = self.conversations[-1]
        page = await services().store.list_conversations(self.user_id, search=self.search,
                                                         before=(last.updated_at, last.id))
        self.conversations += page
        self.has_more = len(page) == PAGE_SIZE
        self._render()

    def set_active(self, conversation_id: str | None) -> None:
        self.active_id = conversation_id
        self._render()

    def _search(self, text: str | None) -> None:
        self.search = text or ''
        self._schedule_reload()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ConversationChanged):
            self._schedule_reload()

    def _schedule_reload(self) -> None:
        # several changes in a burst (send + rename, a search being typed) cost one query
        if self._reload_task is None or self._reload_task.done():
            self._reload_task = background_tasks.create(self._reload_soon(), name='sidebar-reload')

    async def _reload_soon(self) -> None:
        await asyncio.sleep(0.05)
        shown = max(len(self.conversations), PAGE_SIZE)
        rows = await services().store.list_conversations(self.user_id, search=self.search, limit=shown)
        self.conversations = rows
        self.has_more = len(rows) == shown
        self._render()

    def _render(self) -> None:
        self.list.clear()
        now = datetime.now(UTC)
        with self.list:
            if not self.conversations:
                ui.label('No matching conversations.' if self.search else 'No conversations yet.') \
                    .classes('text-sm text-grey-6 px-2 py-4')
            group = None
            for conversation in self.conversations:
                label = age_group(conversation.updated_at, now)
                if label != group:
                    group = label
                    ui.label(label).classes('text-xs font-medium text-grey-6 px-2 pt-3 pb-1')
                self._render_item(conversation)
            if self.has_more:
                ui.button('Show more', on_click=self.load_more).props('flat dense no-caps').classes('w-full')

    def _render_item(self, conversation: Conversation) -> None:
        active = conversation.id == self.active_id
        with ui.row().classes('conversation-item w-full items-center no-wrap rounded-lg cursor-pointer gap-0'
                              + (' active' if active else '')) \
                .props(f'data-testid=conversation-item data-id={conversation.id}') \
                .on('click', lambda c=conversation: self.on_open(c.id)):
            ui.label(conversation.title).classes('flex-1 truncate text-sm px-2 py-2')
            menu_button = ui.button(icon='more_horiz') \
                .props('flat dense round size=sm data-testid=conversation-menu aria-label="More"') \
                .classes('item-menu').on('click.stop', lambda: None)
            with menu_button, ui.menu():
                ui.menu_item('Rename', on_click=lambda c=conversation: self._rename(c))
                ui.menu_item('Delete', on_click=lambda c=conversation: self._delete(c)).classes('text-negative')

    async def _rename(self, conversation: Conversation) -> None:
        if self.login_lapsed():
            return
        # dialogs live in the sidebar's root, which survives the list being re-rendered under them
        with self.root, ui.dialog() as dialog, ui.card().classes('w-96'):
            ui.label('Rename conversation').classes('text-lg font-medium')
            title = ui.input(value=conversation.title).props('autofocus outlined dense data-testid=rename-input') \
                .classes('w-full').on('keydown.enter', lambda: dialog.submit(title.value))
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')
                ui.button('Rename', on_click=lambda: dialog.submit(title.value)).props('unelevated no-caps')
        new_title = (await dialog or '').strip()
        dialog.delete()
        if not new_title or new_title == conversation.title:
            return
        if await services().store.rename_conversation(self.user_id, conversation.id, new_title) is None:
            ui.notify('This conversation does not exist.', type='warning')

    async def _delete(self, conversation: Conversation) -> None:
        if self.login_lapsed():
            return
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
        services().generations.stop(self.user_id, conversation.id)
        if not await services().store.delete_conversation(self.user_id, conversation.id):
            ui.notify('This conversation does not exist.', type='warning')
        elif conversation.id == self.active_id:
            self.on_open('')
