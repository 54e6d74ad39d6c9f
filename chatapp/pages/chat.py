"""The chat page: `/` starts a new conversation, `/c/<id>` opens one and follows its reply live."""

from __future__ import annotations

import asyncio

from nicegui import background_tasks, ui

from chatapp.auth import acting_user_id, page_login_topic
from chatapp.components.reply_view import ReplyView
from chatapp.events import Event, ReplyDelta, ReplyFinished, ReplyNotice, ReplyStarted, conversation_topic
from chatapp.generation import Refused
from chatapp.models import Message, Role, Status
from chatapp.pages.layout import frame
from chatapp.pages.login import login_lapsed, restore_draft
from chatapp.pages.sidebar import Sidebar
from chatapp.services import services

STATUS_TEXT = {
    Status.STOPPED: 'Stopped',
    Status.ERROR: 'Error',
    Status.INTERRUPTED: 'Interrupted',
}


# NiceGUI cancels a page not built within 3 s and leaves the browser an empty one; under load (hundreds of
# pages on two cores) the database reads can take longer: a slow page beats a broken one
PAGE_TIMEOUT_SECONDS = 30.0


@ui.page('/', response_timeout=PAGE_TIMEOUT_SECONDS)
async def new_chat() -> None:
    await services().ready()
    await ChatPage(acting_user_id(), None).build()


@ui.page('/c/{conversation_id}', response_timeout=PAGE_TIMEOUT_SECONDS)
async def conversation(conversation_id: str) -> None:
    await services().ready()
    await ChatPage(acting_user_id(), conversation_id).build()


class ReplyRow:
    """An assistant reply: its text, its state, and what can be done with it."""

    def __init__(self, page: ChatPage, message: Message, text: str, streaming: bool) -> None:
        self.page = page
        self.message_id = message.id
        with ui.column().classes('reply-row w-full gap-1').props('data-testid=message-assistant') as self.row:
            self.view = ReplyView(text, streaming=streaming, html=None if streaming else message.html)
            with ui.row().classes('reply-actions items-center gap-1') as self.actions:
                ui.button(icon='content_copy', on_click=self.copy) \
                    .props('flat round dense size=sm aria-label="Copy reply" data-testid=copy')
        # made when first needed: most replies never show them, and every element of a long conversation
        # costs each open page memory on the server
        self.notice: ui.label | None = None
        self.problem: ui.label | None = None
        self.retry_button: ui.button | None = None
        self.state: ui.label | None = None
        self.show(Status.STREAMING if streaming else message.status, message.error)

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

    def grow(self, offset: int, text: str) -> None:
        if self.notice is not None and self.notice.visible:
            self.notice.set_visibility(False)
        if not self.view.append_at(offset, text):
            background_tasks.create(self.catch_up(), name='reply-catch-up')

    async def catch_up(self) -> None:
        """Fill in what this view missed of a reply another instance writes, from the live text."""
        if self.message_id is None:
            return
        text = await services().bus.live_text(self.message_id)
        if text is not None and self.view.streaming:
            self.view.append_at(0, text)

    def started(self) -> None:
        self.view.restart()
        self.show(Status.STREAMING, '')

    def finished(self, event: ReplyFinished) -> None:
        if self.notice is not None:
            self.notice.set_visibility(False)
        if self.view.length == event.length:
            self.view.finish()
        else:  # some of it was missed (written by another instance): the database has all of it
            background_tasks.create(self.reload(), name='reply-reload')
        self.show(event.status, event.error)

    async def reload(self) -> None:
        messages = await services().store.list_messages(self.page.user_id, self.page.conversation_id or '') or []
        stored = next((m for m in messages if m.id == self.message_id), None)
        if stored is not None:
            self.view.append_at(0, stored.content)
            self.view.finish()

    def copy(self) -> None:
        ui.clipboard.write(self.view.text)
        ui.notify('Copied', position='bottom', timeout=1000)

    async def retry(self) -> None:
        await self.page.retry(self.message_id)


class ChatPage:
    def __init__(self, user_id: str, conversation_id: str | None) -> None:
        self.user_id = user_id
        self.conversation_id = conversation_id
        self.replies: dict[int, ReplyRow] = {}
        self.last_message_id = 0
        self._sync_lock = asyncio.Lock()
        self._unsubscribe = None

    async def build(self) -> None:
        with frame() as drawer, drawer:
            self.sidebar = Sidebar(self.user_id, self.conversation_id, self.open, self._login_lapsed)
        messages = None
        if self.conversation_id is not None:
            messages = await services().store.list_messages(self.user_id, self.conversation_id)
            if messages is None:
                self._not_found()
                await self.sidebar.load()
                return
        with ui.column().classes('chat-main w-full max-w-3xl mx-auto gap-4 px-4 pb-6'):
            self.empty = self._empty_state()
            self.messages = ui.column().classes('w-full gap-5').props('data-testid=messages')
        self._composer()
        restore_draft(self.input, self.conversation_id)  # typed before a re-login
        ui.context.client.on_delete(self._stop_following)
        self._leave_at_logout()
        if self.conversation_id is not None:
            self._follow(self.conversation_id)
            await self.sync(messages)
            ui.run_javascript('chatappScrollToBottom()')
        self._update_busy()
        await self.sidebar.load()

    def open(self, conversation_id: str) -> None:
        if self._login_lapsed():
            return
        ui.navigate.to(f'/c/{conversation_id}' if conversation_id else '/')

    # --- showing messages ----------------------------------------------------------------------------

    async def sync(self, messages: list[Message] | None = None) -> None:
        """Append the messages stored since the last one shown (another tab may have sent them)."""
        async with self._sync_lock:
            assert self.conversation_id is not None
            if messages is None:
                messages = await services().store.list_messages(self.user_id, self.conversation_id) or []
            new = [m for m in messages if m.id is not None and m.id > self.last_message_id]
            # a reply that finished while we read keeps its stale row: read it once more
            if any(m.status == Status.STREAMING and not self._is_live(m) for m in new):
                messages = await services().store.list_messages(self.user_id, self.conversation_id) or []
                new = [m for m in messages if m.id is not None and m.id > self.last_message_id]
            # from here on nothing awaits: the live text read now and the deltas after it line up exactly
            with self.messages:
                for message in new:
                    self._show(message)
            self.empty.set_visibility(not self.replies and not new)

    def _is_live(self, message: Message) -> bool:
        generation = services().generations.running(self.conversation_id or '')
        return generation is not None and generation.message_id == message.id

    def _show(self, message: Message) -> None:
        assert message.id is not None
        self.last_message_id = max(self.last_message_id, message.id)
        if message.role == Role.USER:
            ui.label(message.content).classes('user-bubble self-end').props('data-testid=message-user')
            return
        generation = services().generations.running(message.conversation_id)
        if generation is not None and generation.message_id == message.id:
            self.replies[message.id] = ReplyRow(self, message, generation.published_text, streaming=True)
        elif message.status == Status.STREAMING:  # written by another instance: start from its live text
            row = self.replies[message.id] = ReplyRow(self, message, message.content, streaming=True)
            background_tasks.create(row.catch_up(), name='reply-catch-up')
        else:
            self.replies[message.id] = ReplyRow(self, message, message.content, streaming=False)

    def _follow(self, conversation_id: str) -> None:
        self._unsubscribe = services().bus.subscribe(conversation_topic(conversation_id), self._on_event)

    def _stop_following(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _leave_at_logout(self) -> None:
        """Logging out (in another tab, too) ends this page at once: nothing more of the person's data
        reaches it, and it goes to the login page."""
        topic = page_login_topic()
        if topic is None:
            return

        def logged_out(event: Event) -> None:
            self._stop_following()
            self.sidebar.stop_following()
            with self.messages:  # (the tab that logs out is on its way to the provider already)
                ui.run_javascript('window.chatappLoggingOut || location.assign("/login?logged_out=1")')
        unsubscribe = services().bus.subscribe(topic, logged_out)
        ui.context.client.on_delete(unsubscribe)

    def _on_event(self, event: Event) -> None:
        row = self.replies.get(getattr(event, 'message_id', -1))
        if isinstance(event, ReplyDelta):
            if row is not None and row.view.streaming:
                row.grow(event.offset, event.text)
        elif isinstance(event, ReplyNotice):
            if row is not None:
                row.waiting(event.text)
        elif isinstance(event, ReplyStarted):
            if row is not None:
                row.started()
            else:
                background_tasks.create(self.sync(), name='chat-sync')
            self._update_busy()
        elif isinstance(event, ReplyFinished):
            if row is not None:
                row.finished(event)
            self._update_busy()

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
        busy = (self.conversation_id is not None and services().generations.is_busy(self.conversation_id)) \
            or any(row.view.streaming for row in self.replies.values())
        self.send_button.set_visibility(not busy)
        self.stop_button.set_visibility(busy)

    def _login_lapsed(self) -> bool:
        """The login ended while this page was open: a dialog offers to log in again, keeping the draft."""
        draft = (self.input.value or '') if hasattr(self, 'input') else ''
        return login_lapsed(self.user_id, self.conversation_id, draft)

    async def send(self) -> None:
        if self._login_lapsed():
            return
        text = self.input.value or ''
        if not text.strip():
            return
        try:
            sent = await services().generations.send(self.user_id, self.conversation_id, text)
        except Refused as refusal:
            ui.notify(str(refusal), type='warning', position='top')
            return  # the text stays in the input
        self.input.value = ''
        if self.conversation_id is None:
            self.conversation_id = sent.conversation_id
            self._follow(self.conversation_id)
            ui.navigate.history.replace(f'/c/{self.conversation_id}')
            self.sidebar.set_active(self.conversation_id)
            await self.sync([sent.question, sent.reply])  # all there is: no read on the way to the first token
        else:
            await self.sync()  # with whatever another tab sent meanwhile
        self._update_busy()
        ui.run_javascript('chatappScrollToBottom()')

    def stop(self) -> None:
        if self.conversation_id is not None and not self._login_lapsed():
            services().generations.stop(self.user_id, self.conversation_id)

    async def retry(self, message_id: int | None) -> None:
        if self.conversation_id is None or message_id is None or self._login_lapsed():
            return
        try:
            await services().generations.retry(self.user_id, self.conversation_id, message_id)
        except Refused as refusal:
            ui.notify(str(refusal), type='warning', position='top')

    # --- empty and missing ---------------------------------------------------------------------------

    def _empty_state(self) -> ui.column:
        with ui.column().classes('empty-state w-full items-center gap-3 pt-24') as empty:
            ui.icon('forum', size='48px').classes('text-primary opacity-70')
            ui.label('How can I help?').classes('text-2xl font-semibold')
            if services().settings.uses_demo_model:
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
