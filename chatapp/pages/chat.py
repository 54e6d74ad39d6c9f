"""The chat page: `/` starts a new conversation, `/c/<id>` opens one and follows its reply live."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from chatapp.auth.logins import Logins
from chatapp.components.reply_view import ReplyView
from chatapp.engine import Change, ConversationView, Ended, Grew, Refused, Restarted, Shown, ShownMessage, Waiting
from chatapp.models import Role, Status
from chatapp.pages.layout import frame
from chatapp.pages.relogin import login_lapsed, restore_draft
from chatapp.pages.sidebar import Sidebar
from chatapp.services import Services

STATUS_TEXT = {
    Status.STOPPED: 'Stopped',
    Status.ERROR: 'Error',
    Status.INTERRUPTED: 'Interrupted',
}


class ReplyRow:
    """An assistant reply: its text, its state, and what can be done with it."""

    def __init__(self, shown: ShownMessage, on_retry: Callable[[int], Awaitable[None]]) -> None:
        message = shown.message
        assert message.id is not None
        self.message_id = message.id
        self.on_retry = on_retry
        with ui.column().classes('reply-row w-full gap-1').props('data-testid=message-assistant') as self.row:
            self.view = ReplyView(shown.text, streaming=shown.streaming,
                                  html=None if shown.streaming else message.html)
            with ui.row().classes('reply-actions items-center gap-1') as self.actions:
                ui.button(icon='content_copy', on_click=self.copy) \
                    .props('flat round dense size=sm aria-label="Copy reply" data-testid=copy')
        # made when first needed: most replies never show them, and every element of a long conversation
        # costs each open page memory on the server
        self.notice: ui.label | None = None
        self.problem: ui.label | None = None
        self.retry_button: ui.button | None = None
        self.state: ui.label | None = None
        self.show(Status.STREAMING if shown.streaming else message.status, message.error)

    def show(self, status: Status, error: str) -> None:
        streaming = status == Status.STREAMING
        self.row.classes(add='streaming' if streaming else '', remove='' if streaming else 'streaming')
        if error and not streaming and self.problem is None:
            with self.row:
                self.problem = ui.label().classes('reply-problem').props('data-testid=message-error')
            self.problem.move(target_index=self.row.default_slot.children.index(self.actions))
        if self.problem is not None:
            self.problem.set_text(error)
            self.problem.set_visibility(bool(error) and not streaming)
        retry = status in (Status.ERROR, Status.INTERRUPTED, Status.STOPPED)
        if retry and self.retry_button is None:
            with self.actions:
                self.retry_button = ui.button('Retry', icon='refresh', on_click=self.retry) \
                    .props('flat dense no-caps size=sm data-testid=retry')
            self.retry_button.move(target_index=1)  # after Copy, before the state
        if self.retry_button is not None:
            self.retry_button.set_visibility(retry)
        if STATUS_TEXT.get(status) and self.state is None:
            with self.actions:
                self.state = ui.label().classes('text-xs text-grey-6')
        if self.state is not None:
            self.state.set_text(STATUS_TEXT.get(status, ''))

    def waiting(self, text: str) -> None:
        """A passing state while the reply has not begun, e.g. a rate limit being waited out."""
        if self.notice is None:
            with self.row:
                self.notice = ui.label().classes('reply-notice').props('data-testid=message-notice')
            self.notice.move(target_index=1)  # under the reply, above any error
        self.notice.set_text(text)
        self.notice.set_visibility(True)

    def grow(self, text: str) -> None:
        if self.notice is not None and self.notice.visible:
            self.notice.set_visibility(False)
        self.view.append(text)

    def restarted(self) -> None:
        self.view.restart()
        self.show(Status.STREAMING, '')

    def ended(self, status: Status, error: str) -> None:
        if self.notice is not None:
            self.notice.set_visibility(False)
        self.view.finish()
        self.show(status, error)

    def copy(self) -> None:
        ui.clipboard.write(self.view.text)
        ui.notify('Copied', position='bottom', timeout=1000)

    async def retry(self) -> None:
        await self.on_retry(self.message_id)


class ChatPage:
    def __init__(self, services: Services, logins: Logins, conversation_id: str | None) -> None:
        self.services = services
        self.logins = logins
        self.user_id = logins.acting_user_id()
        self.conversation = ConversationView(services.engine, self.user_id, conversation_id)
        self.replies: dict[int, ReplyRow] = {}

    @property
    def conversation_id(self) -> str | None:
        return self.conversation.conversation_id

    async def build(self) -> None:
        with frame(self.services, self.logins) as drawer, drawer:
            self.sidebar = Sidebar(self.services, self.user_id, self.conversation_id, self.open, self._login_lapsed)
        if not await self.conversation.load():
            self._not_found()
            await self.sidebar.load()
            return
        with ui.column().classes('chat-main w-full max-w-3xl mx-auto gap-4 px-4 pb-6'):
            self.empty = self._empty_state()
            self.messages = ui.column().classes('w-full gap-5').props('data-testid=messages')
        self._composer()
        restore_draft(self.logins, self.input, self.conversation_id)  # typed before a re-login
        ui.context.client.on_delete(self.conversation.close)
        self.logins.on_logout(self._logged_out)
        await self.conversation.follow(self._on_change)
        if self.conversation_id is not None:
            ui.run_javascript('chatappScrollToBottom()')
        self._update_busy()
        await self.sidebar.load()

    def open(self, conversation_id: str) -> None:
        if self._login_lapsed():
            return
        ui.navigate.to(f'/c/{conversation_id}' if conversation_id else '/')

    def _logged_out(self) -> None:
        """Logging out (in another tab, too) ends this page at once: nothing more of the person's data
        reaches it, and it goes to the login page."""
        self.conversation.close()
        self.sidebar.stop_following()
        with self.messages:  # (the tab that logs out is on its way to the provider already)
            ui.run_javascript('window.chatappLoggingOut || location.assign("/login?logged_out=1")')

    # --- showing what the conversation view hands over ---------------------------------------------------

    def _on_change(self, change: Change) -> None:
        if isinstance(change, Shown):
            with self.messages:
                for shown in change.messages:
                    self._show(shown)
            self.empty.set_visibility(not self.replies and not change.messages)
            self._update_busy()
            return
        row = self.replies.get(change.message_id)
        if row is None:
            return
        if isinstance(change, Grew):
            row.grow(change.text)
        elif isinstance(change, Waiting):
            row.waiting(change.text)
        elif isinstance(change, Restarted):
            row.restarted()
            self._update_busy()
        elif isinstance(change, Ended):
            row.ended(change.status, change.error)
            self._update_busy()

    def _show(self, shown: ShownMessage) -> None:
        message = shown.message
        if message.role == Role.USER:
            ui.label(message.content).classes('user-bubble self-end').props('data-testid=message-user')
        else:
            assert message.id is not None
            self.replies[message.id] = ReplyRow(shown, self.retry)

    # --- sending -------------------------------------------------------------------------------------

    def _composer(self) -> None:
        with ui.footer().classes('composer-footer'), ui.column().classes('w-full max-w-3xl mx-auto gap-1 px-2'):
            with ui.row().classes('composer w-full items-end no-wrap gap-2'):
                self.input = ui.textarea(placeholder='Message chatapp…') \
                    .props('autogrow borderless dense rows=1 autofocus data-testid=composer') \
                    .classes('flex-1 composer-input').mark('composer') \
                    .on('keydown', self.send, js_handler='(e) => chatappSendOnEnter(e, emit)')  # static/page.js
                self.send_button = ui.button(icon='arrow_upward', on_click=self.send) \
                    .props('round unelevated dense aria-label="Send" data-testid=send').mark('send')
                self.stop_button = ui.button(icon='stop', on_click=self.stop) \
                    .props('round unelevated dense color=grey-8 aria-label="Stop" data-testid=stop').mark('stop')
            ui.label('Enter to send, Shift+Enter for a new line.').classes('composer-hint')

    def _update_busy(self) -> None:
        busy = self.conversation.busy
        self.send_button.set_visibility(not busy)
        self.stop_button.set_visibility(busy)

    def _login_lapsed(self) -> bool:
        """The login ended while this page was open: a dialog offers to log in again, keeping the draft."""
        draft = (self.input.value or '') if hasattr(self, 'input') else ''
        return login_lapsed(self.logins, self.user_id, self.conversation_id, draft)

    async def send(self) -> None:
        if self._login_lapsed():
            return
        text = self.input.value or ''
        if not text.strip():
            return
        was_new = self.conversation_id is None
        try:
            await self.conversation.send(text)
        except Refused as refusal:
            ui.notify(str(refusal), type='warning', position='top')
            return  # the text stays in the input
        self.input.value = ''
        if was_new:
            ui.navigate.history.replace(f'/c/{self.conversation_id}')
            self.sidebar.set_active(self.conversation_id)
        self._update_busy()
        ui.run_javascript('chatappScrollToBottom()')

    def stop(self) -> None:
        if not self._login_lapsed():
            self.conversation.stop()

    async def retry(self, message_id: int) -> None:
        if self._login_lapsed():
            return
        try:
            await self.conversation.retry(message_id)
        except Refused as refusal:
            ui.notify(str(refusal), type='warning', position='top')

    # --- empty and missing ---------------------------------------------------------------------------

    def _empty_state(self) -> ui.column:
        with ui.column().classes('empty-state w-full items-center gap-3 pt-24') as empty:
            ui.icon('forum', size='48px').classes('text-primary opacity-70')
            ui.label('How can I help?').classes('text-2xl font-semibold')
            if self.services.settings.uses_demo_model:
                with ui.card().classes('demo-note').props('flat bordered data-testid=demo-note'):
                    ui.markdown(
                        '**Demo mode:** no model endpoint is configured, so an offline demo model answers. '
                        'Set `OPENAI_API_KEY` (and `OPENAI_BASE_URL` for Ollama, vLLM, Azure, LiteLLM…) '
                        'in `.env` and restart to chat with a real model.')
        return empty

    def _not_found(self) -> None:
        with ui.column().classes('w-full items-center gap-3 pt-24').props('data-testid=not-found'):
            ui.icon('search_off', size='48px').classes('text-grey-6')
            ui.label('Conversation not found').classes('text-2xl font-semibold')
            ui.label('It may have been deleted, or the link is wrong.').classes('text-grey-7')
            ui.button('Start a new chat', on_click=lambda: self.open('')).props('unelevated no-caps')
