"""A read-only link (`/s/<token>`): the conversation as far as the link shows it, or following it live, for
whoever holds the link; a person who is logged in may continue it as a copy of their own. Opened without a login
(CHATAPP_PUBLIC_LINKS), the page shows nothing but the conversation."""

from __future__ import annotations

from nicegui import app, ui

from chatapp import assets
from chatapp.auth.logins import Logins
from chatapp.components.base_style import add_base_style
from chatapp.engine import AccessChanged, Change, ConversationView
from chatapp.models import Message
from chatapp.pages.layout import CODE_STYLE, conversation_path, frame
from chatapp.pages.message_list import MessageList
from chatapp.pages.message_rows import RowActions
from chatapp.pages.model_picker import model_label
from chatapp.pages.notices import not_found
from chatapp.pages.sidebar import Sidebar
from chatapp.services import Services


class LinkPage:
    def __init__(self, services: Services, logins: Logins, token: str, user_id: str) -> None:
        self.services = services
        self.logins = logins
        self.user_id = user_id  # '' when not logged in
        self.conversation = ConversationView(services.engine, user_id, None, link=token)
        self.actions = RowActions(regenerate=_nothing, edit=_refuse_edit, switch=_nothing,
                                  fork=self.copy if user_id else None,
                                  regenerate_with=lambda _: None,
                                  model_label=lambda key: model_label(services.catalog, key),
                                  author=self._author, can_write=lambda: False,
                                  file_url=lambda attachment_id, thumbnail: f'/s/{token}/files/{attachment_id}'
                                  + ('/thumbnail' if thumbnail else ''))

    async def build(self) -> None:
        if self.user_id:
            with frame(self.services, self.logins) as (drawer, tools), drawer:
                sidebar = Sidebar(self.services, self.user_id, None, _open)
        else:
            _bare_frame()
        if not await self.conversation.load():
            _not_found()
            return
        if self.user_id:
            with tools:
                ui.button('Continue as a copy', icon='call_split', on_click=self.copy_all) \
                    .props('flat dense no-caps data-testid=continue-copy')
        with ui.column().classes('chat-main w-full max-w-3xl mx-auto gap-4 px-4 pb-6') as self.main:
            stored = self.conversation.stored
            with ui.row().classes('link-note items-center no-wrap gap-2').props('data-testid=link-note'):
                ui.icon('link', size='20px')
                what = 'follows the conversation live' if self.conversation.live else 'shows it as it was shared'
                ui.label(f'{stored.title if stored else "A conversation"} · a read-only link that {what}')
            self.messages = MessageList(self.actions, self.conversation)
        self.gone = _not_found(hidden=True)
        ui.context.client.on_delete(self.conversation.close)
        await self.conversation.follow(self._on_change)
        ui.run_javascript('chatappScrollToBottom()')
        self.messages.watch_edges()
        if self.user_id:
            await sidebar.load()

    def _on_change(self, change: Change) -> None:
        if isinstance(change, AccessChanged):  # revoked while open
            self.main.set_visibility(False)
            self.gone.set_visibility(True)
        else:
            self.messages.apply(change)

    def _author(self, message: Message) -> str:
        """Who wrote a question, for a reader on the team (a visitor who is not logged in sees no names)."""
        return self.conversation.speakers.get(message.author_id or '', '') if self.user_id else ''

    async def copy(self, message_id: int) -> None:
        """Continue from this message as a conversation of the person's own."""
        if not self.user_id:
            ui.notify('Log in to continue this conversation as a copy.', position='top')
            return
        copied = await self.conversation.fork(message_id)
        if copied is None:
            ui.notify('This link shows nothing any more.', type='warning', position='top')
            return
        ui.navigate.to(f'/c/{copied}')

    async def copy_all(self) -> None:
        last = self.conversation.last_message_id  # (a long conversation's page may show a stretch of the past)
        if last is not None:
            await self.copy(last)


async def _nothing(_: int) -> None:
    return None


async def _refuse_edit(_: int, __: str) -> bool:
    return False


def _open(conversation_id: str, message_id: int | None) -> None:
    ui.navigate.to(conversation_path(conversation_id, message_id))


def _bare_frame() -> None:
    """The page's style and nothing of the app around the conversation: a visitor who is not logged in sees
    no sidebar, account or model."""
    add_base_style()
    ui.add_css(assets.text('chat.css') + CODE_STYLE)
    ui.add_head_html(f'<script>{assets.text("page.js")}</script>')  # inline: its hash is in the CSP
    ui.dark_mode(app.storage.user.get('dark'))


def _not_found(*, hidden: bool = False) -> ui.column:
    return not_found('The link may have been revoked, or it is wrong.', hidden=hidden)
