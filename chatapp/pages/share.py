"""The owner's sharing dialog: find teammates who have logged in before, bring them in as participants (read and
write) or viewers (read), change their role, or take them out (every change reaches their open pages at once);
make read-only links, see when each was last opened, revoke them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from nicegui import ui

from chatapp.models import Access, User
from chatapp.pages.layout import initials
from chatapp.store import ConversationStore

MAX_SEARCH_CHARS = 100
ROLES = {Access.PARTICIPANT: 'Participant', Access.VIEWER: 'Viewer'}


class ShareDialog:
    def __init__(self, store: ConversationStore, owner_id: str, conversation_id: str, *, public_links: bool) -> None:
        self.store = store
        self.owner_id = owner_id
        self.conversation_id = conversation_id
        with ui.dialog().props('data-testid=share-dialog') as self.dialog, ui.card().classes('share-card w-full gap-2'):
            ui.label('Share this conversation').classes('text-lg font-semibold')
            ui.label('Participants read and write, with the model; viewers read, live.').classes(
                'text-sm text-grey-7')
            self.search = ui.input(placeholder='Add people by name or email', on_change=self._find) \
                .props(f'outlined dense clearable debounce=300 maxlength={MAX_SEARCH_CHARS} data-testid=share-search') \
                .classes('w-full')
            self.found = ui.column().classes('w-full gap-1')
            ui.separator()
            self.members = ui.column().classes('w-full gap-1').props('data-testid=share-members')
            ui.separator()
            ui.label('Read-only links').classes('font-medium')
            ui.label('Anyone who holds the link can read, ' + ('even without logging in.' if public_links else
                     'once logged in.') + ' They can continue it as a copy of their own.').classes(
                'text-sm text-grey-7')
            with ui.row().classes('gap-2'):
                ui.button('Link as it is now', icon='link', on_click=lambda: self._link(live=False)) \
                    .props('outline dense no-caps data-testid=link-now')
                ui.button('Live link', icon='sensors', on_click=lambda: self._link(live=True)) \
                    .props('outline dense no-caps data-testid=link-live')
            self.links = ui.column().classes('w-full gap-1').props('data-testid=share-links')
            with ui.row().classes('w-full justify-end'):
                ui.button('Done', on_click=self.dialog.close).props('flat no-caps data-testid=share-done')

    async def open(self) -> None:
        self.search.value = ''
        self.found.clear()
        await self._list_members()
        await self._list_links()
        self.dialog.open()

    async def _find(self) -> None:
        text = (self.search.value or '')[:MAX_SEARCH_CHARS]
        people = await self.store.find_people(self.owner_id, text) if text.strip() else []
        members = {user.id for user, _ in await self.store.members(self.owner_id, self.conversation_id) or []}
        self.found.clear()
        with self.found:
            for person in (p for p in people if p.id not in members):
                with ui.row().classes('share-row w-full items-center no-wrap gap-2') \
                        .props(f'data-testid=share-result data-user="{person.id}"'):
                    self._person(person)
                    for access, label in ROLES.items():
                        ui.button(f'Add as {label.lower()}', on_click=lambda p=person, a=access: self._add(p, a)) \
                            .props(f'flat dense no-caps size=sm data-testid=share-add-{access.value}')
            if text.strip() and not people:
                ui.label('Nobody of that name has logged in yet.').classes('text-sm text-grey-7')

    async def _list_members(self) -> None:
        members = await self.store.members(self.owner_id, self.conversation_id) or []
        self.members.clear()
        with self.members:
            for user, access in members:
                with ui.row().classes('share-row w-full items-center no-wrap gap-2') \
                        .props(f'data-testid=share-member data-user="{user.id}"'):
                    self._person(user)
                    if access == Access.OWNER:
                        ui.label('Owner').classes('text-sm text-grey-7 px-2')
                        continue
                    ui.select(ROLES, value=access, on_change=lambda e, u=user: self._add(u, Access(e.value))) \
                        .props('dense borderless options-dense data-testid=share-role').classes('share-role')
                    ui.button(icon='person_remove', on_click=lambda u=user: self._remove(u)) \
                        .props('flat round dense size=sm aria-label="Remove" data-testid=share-remove')

    async def _link(self, *, live: bool) -> None:
        if await self.store.create_link(self.owner_id, self.conversation_id, live=live) is None:
            ui.notify('There is nothing to share yet.', type='warning', position='top')
        await self._list_links()

    async def _list_links(self) -> None:
        links = await self.store.links(self.owner_id, self.conversation_id)
        self.links.clear()
        with self.links:
            for link in links:
                path = f'/s/{link.token}'
                with ui.row().classes('share-row w-full items-center no-wrap gap-2') \
                        .props(f'data-testid=share-link data-path="{path}"'):
                    ui.icon('sensors' if link.up_to is None else 'link', size='20px').classes('text-grey-7')
                    with ui.column().classes('gap-0 min-w-0 flex-1'):
                        ui.label(path).classes('ellipsis text-sm')
                        opened = _when(link.last_opened_at) if link.last_opened_at else 'never'
                        ui.label(f'{"Live" if link.up_to is None else "As of " + _when(link.created_at)}'
                                 f' · last opened {opened}').classes('text-xs text-grey-7') \
                            .props('data-testid=link-opened')
                    ui.button(icon='content_copy', on_click=lambda p=path: _copy_url(p)) \
                        .props('flat round dense size=sm aria-label="Copy link" data-testid=link-copy')
                    ui.button(icon='link_off', on_click=lambda t=link.token: self._revoke(t)) \
                        .props('flat round dense size=sm aria-label="Revoke link" data-testid=link-revoke')

    async def _revoke(self, token: str) -> None:
        await self.store.revoke_link(self.owner_id, token)
        await self._list_links()

    @staticmethod
    def _person(user: User) -> None:
        with ui.avatar(color='primary', text_color='white', size='28px'):
            ui.label(initials(user.name or user.email)).classes('text-xs')
        with ui.column().classes('gap-0 min-w-0 flex-1'):
            ui.label(user.name or user.email).classes('ellipsis text-sm')
            if user.name and user.email:
                ui.label(user.email).classes('ellipsis text-xs text-grey-7')

    async def _add(self, user: User, access: Access) -> None:
        if not await self.store.share(self.owner_id, self.conversation_id, user.id, access):
            ui.notify('That did not work: the conversation or the person is gone.', type='warning', position='top')
        self.search.value = ''
        self.found.clear()
        await self._list_members()

    async def _remove(self, user: User) -> None:
        await self.store.unshare(self.owner_id, self.conversation_id, user.id)
        await self._list_members()


def _when(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).strftime('%Y-%m-%d %H:%M UTC')  # stored as naive UTC


def _copy_url(path: str) -> None:
    ui.run_javascript(f'navigator.clipboard.writeText(location.origin + {json.dumps(path)})')
    ui.notify('Link copied', position='bottom', timeout=1000)
