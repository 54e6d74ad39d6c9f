"""The chat page: `/` starts a new conversation, `/c/<id>` opens one and follows its reply live."""

from __future__ import annotations

from nicegui import background_tasks, ui

from chatapp.auth.logins import Logins
from chatapp.engine import (
    AccessChanged,
    Change,
    ConversationView,
    Ended,
    Refused,
    Shown,
)
from chatapp.engine.presence import RoomPresence
from chatapp.llm.prompt import estimate_text_tokens, prompt_budget
from chatapp.models import Access, Message, ModelAnswers
from chatapp.pages.attachments import AttachmentTray
from chatapp.pages.context_gauge import ContextGauge
from chatapp.pages.conversation_settings import ConversationSettings
from chatapp.pages.layout import conversation_path, frame, initials
from chatapp.pages.message_list import MessageList
from chatapp.pages.message_rows import RowActions
from chatapp.pages.model_picker import ModelPicker, model_items, model_label
from chatapp.pages.notices import not_found, notice
from chatapp.pages.presets import PresetsPanel
from chatapp.pages.relogin import login_lapsed, restore_draft
from chatapp.pages.share import ShareDialog
from chatapp.pages.sidebar import Sidebar
from chatapp.pages.transfer import export_menu
from chatapp.presets import PresetInfo
from chatapp.services import Services

MAX_AVATARS = 3  # of the others there; the rest are counted


def _presence_avatar(text: str, label: str) -> ui.avatar:
    """Initials (or a count), and who it stands for in a tooltip and for screen readers."""
    with ui.avatar(color='teal', text_color='white', size='26px').classes('presence-avatar') as avatar:
        avatar._props['aria-label'] = label  # set, not parsed: a name may hold quotes
        ui.label(text if text.startswith('+') else initials(text)).classes('text-xs')
        ui.tooltip(label)
    return avatar


class ChatPage:
    def __init__(self, services: Services, logins: Logins, conversation_id: str | None,
                 reveal: int | None = None) -> None:
        """`reveal`: a message to show (a search result's) where the conversation would open at its end."""
        self.services = services
        self.reveal = reveal
        self.logins = logins
        self.user_id = logins.acting_user_id()
        self.conversation = ConversationView(services.engine, self.user_id, conversation_id)
        self.row_actions = RowActions(regenerate=self.regenerate, edit=self.edit, switch=self.switch,
                                      fork=self.fork, regenerate_with=self.regenerate_with,
                                      model_label=lambda key: model_label(services.catalog, key),
                                      author=self._author, can_write=lambda: self.conversation.can_write,
                                      file_url=_file_url)
        self.presets: PresetsPanel | None = None
        self.names: dict[str, str] = {}  # of the people who may read the conversation, where several may
        self.presence: RoomPresence | None = None
        self.present: list[str] = []  # the names of the others there, as shown

    @property
    def conversation_id(self) -> str | None:
        return self.conversation.conversation_id

    async def build(self) -> None:
        with frame(self.services, self.logins) as (drawer, tools), drawer:
            self.sidebar = Sidebar(self.services, self.user_id, self.conversation_id, self.open, self._login_lapsed)
        if not await self.conversation.load(self.reveal):
            self._not_found()
            await self.sidebar.load()
            return
        await self._read_members()
        with tools:
            self._header_tools()
        self.access_shown = self.conversation.access
        with ui.column().classes('chat-main w-full max-w-3xl mx-auto gap-4 px-4 pb-6') as self.main:
            if self.conversation.forked_from is not None:
                origin_id, origin_title = self.conversation.forked_from
                with ui.row().classes('fork-note items-center no-wrap gap-1 text-sm text-grey-7') \
                        .props('data-testid=forked-from'):
                    ui.icon('call_split', size='18px')
                    ui.label('Forked from')
                    ui.link(origin_title, f'/c/{origin_id}')
            self.empty = self._empty_state()
            self.messages = MessageList(self.row_actions, self.conversation)
        self._composer()
        self._lost = self._lost_access()
        restore_draft(self.logins, self.input, self.conversation_id)  # typed before a re-login
        if self.presets is not None:
            await self.presets.load()
        ui.context.client.on_delete(self.conversation.close)
        self.logins.on_logout(self._logged_out)
        await self.conversation.follow(self._on_change)
        self._start_presence()
        if self.conversation_id is not None:
            ui.run_javascript('chatappScrollToBottom()' if self.reveal is None else f'chatappReveal({self.reveal:d})')
            self.messages.watch_edges()
        self._update_busy()
        self._update_gauge()
        await self.sidebar.load()

    def open(self, conversation_id: str, message_id: int | None = None) -> None:
        if self._login_lapsed():
            return
        ui.navigate.to(conversation_path(conversation_id, message_id))

    def _logged_out(self) -> None:
        """Logging out (in another tab, too) ends this page at once: nothing more of the person's data
        reaches it, and it goes to the login page."""
        self.conversation.close()
        if self.presence is not None:
            self.presence.stop()
        self.sidebar.stop_following()
        with self.messages.column:  # (the tab that logs out is on its way to the provider already)
            ui.run_javascript('window.chatappLoggingOut || location.assign("/login?logged_out=1")')

    # --- showing what the conversation view hands over ---------------------------------------------------

    def _on_change(self, change: Change) -> None:
        if isinstance(change, AccessChanged):
            background_tasks.create(self._access_changed(change.access), name='access-changed')
            return
        if not self.messages.apply(change):
            return
        if isinstance(change, Shown):
            self.empty.set_visibility(not self.messages.rows)
        if isinstance(change, Shown | Ended):
            self._update_busy()
            self._update_gauge()
        if isinstance(change, Ended):
            background_tasks.create(self.sidebar.show_usage(), name='usage-note')

    # --- sending -------------------------------------------------------------------------------------

    def _composer(self) -> None:
        with ui.footer().classes('composer-footer') as self.composer_footer, \
                ui.column().classes('w-full max-w-3xl mx-auto gap-1 px-2'):
            self.typing_note = ui.label().classes('typing-note').props('data-testid=typing')
            self.reader_note = ui.label('You can read this conversation as it happens; its owner and participants '
                                        'write in it.').classes('reader-note').props('data-testid=reader-note')
            with ui.column().classes('composer w-full gap-0') as self.composer_row:
                self.tray = AttachmentTray(self.services, self.logins, self.user_id, self._budget,
                                           on_change=self._update_gauge)
                with ui.row().classes('w-full items-end no-wrap gap-1'):
                    self.tray.button()
                    self.input = ui.textarea(placeholder='Message chatapp…') \
                        .props('autogrow borderless dense rows=1 autofocus data-testid=composer') \
                        .classes('flex-1 composer-input').mark('composer') \
                        .on('keydown', self.send, js_handler='(e) => chatappSendOnEnter(e, emit)')  # static/page.js
                    self.send_button = ui.button(icon='arrow_upward', on_click=self.send) \
                        .props('round unelevated dense aria-label="Send" data-testid=send').mark('send')
                    self.stop_button = ui.button(icon='stop', on_click=self.stop) \
                        .props('round unelevated dense color=grey-8 aria-label="Stop" data-testid=stop').mark('stop')
            self.tray.accept_from(self.composer_row, self.input)
            with ui.row().classes('composer-hint-row w-full items-center no-wrap gap-2'):
                ui.label('Enter to send, Shift+Enter for a new line.').classes('composer-hint')
                self.gauge = ContextGauge()

    def _budget(self) -> int:
        """The prompt budget of the model of the next reply, in estimated tokens (0: none)."""
        model = self.services.catalog.get(self.conversation.model)
        return prompt_budget(self.services.settings.max_context_tokens,
                             model.context_window if model is not None else None)

    def _update_gauge(self) -> None:
        """How much of the prompt budget the next message starts with, the files about to be sent too (estimated:
        about four characters a token)."""
        system = self.conversation.system_prompt
        texts = [self.services.settings.system_prompt if system is None else system]
        texts += self.messages.texts()
        unshown = sum((length + 3) // 4 + 4 for length in self.conversation.unshown_lengths())  # as estimated below
        attached = (self.messages.attached_chars() + sum(f.prompt_chars for f in self.tray.files)) // 4
        self.gauge.show(unshown + attached + sum(estimate_text_tokens(text) + 4 for text in texts if text),
                        self._budget())

    # --- models and settings ---------------------------------------------------------------------------

    def _header_tools(self) -> None:
        """The model, the conversation's settings and sharing are its owner's: a page for anyone else has none of
        them (a hidden element would still take the events a page's script can send)."""
        if self.conversation.access == Access.OWNER:
            self._owner_tools()
        export_menu(lambda: self.conversation_id)  # for anyone who may read it
        self.people = ui.row().classes('presence items-center no-wrap gap-0').props('data-testid=presence')
        with ui.dialog().props('data-testid=regenerate-dialog') as self.other_model, \
                ui.card().classes('regenerate-card gap-1'):
            ui.label('Regenerate with').classes('text-lg font-semibold')
            self.other_model_list = ui.list().classes('w-full')

    def _owner_tools(self) -> None:
        self.picker = ModelPicker(self.services.catalog, self.conversation.model, self.choose_model)
        ui.button(icon='tune', on_click=lambda: self.settings.open(self.conversation.system_prompt)) \
            .props('flat round dense aria-label="Conversation settings" data-testid=conversation-settings')
        self.share_dialog: ShareDialog | None = None
        self.share_button = ui.button(icon='person_add', on_click=self._share) \
            .props('flat round dense aria-label="Share" data-testid=share-button')
        self.share_button.set_visibility(self._may_share())
        shared = bool(self.names) and self.answers is not None
        self.settings = ConversationSettings(self.services.settings.system_prompt, self.set_system_prompt,
                                             answers=self.answers if shared else None,
                                             on_answers=self.set_model_answers)

    async def choose_model(self, key: str) -> None:
        if self._login_lapsed():
            return
        try:
            await self.conversation.choose_model(key)
        except Refused as refusal:
            ui.notify(str(refusal), type='warning', position='top')
            return
        self._update_gauge()

    async def set_model_answers(self, answers: ModelAnswers) -> None:
        if not self._login_lapsed() and self.conversation_id is not None:
            await self.services.store.set_model_answers(self.user_id, self.conversation_id, answers)

    async def set_system_prompt(self, prompt: str | None) -> None:
        if self._login_lapsed():
            return
        try:
            await self.conversation.set_system_prompt(prompt)
        except Refused as refusal:
            ui.notify(str(refusal), type='warning', position='top')
            return
        ui.notify('Saved: the next reply follows it.', position='bottom', timeout=1500)
        self._update_gauge()

    def regenerate_with(self, message_id: int) -> None:
        self.other_model_list.clear()
        with self.other_model_list:
            model_items(self.services.catalog, '', lambda key: self._regenerate_with(message_id, key))
        self.other_model.open()

    async def _regenerate_with(self, message_id: int, key: str) -> None:
        self.other_model.close()
        await self.regenerate(message_id, key)

    def apply_preset(self, preset: PresetInfo | None) -> None:
        """The model and system prompt of the conversation about to start: the preset's, or (None) the app's
        prompt with the model picked."""
        if preset is None:
            self.conversation.prepare(self.picker.chosen, None)
        else:
            self.conversation.prepare(preset.model or self.services.catalog.default_key, preset.system_prompt)
        self.picker.show(self.conversation.model)
        self._update_gauge()

    async def start_from(self, preset: PresetInfo, text: str) -> None:
        self.apply_preset(preset)
        self.input.value = text
        await self.send()

    def _update_busy(self) -> None:
        busy = self.conversation.busy
        self.send_button.set_visibility(not busy or bool(self.names))  # where several write, anyone may any time
        self.stop_button.set_visibility(busy)
        writer = self.conversation.can_write
        self.composer_row.set_visibility(writer)
        self.reader_note.set_visibility(not writer)

    # --- people ----------------------------------------------------------------------------------------

    async def _read_members(self, *, changed: bool = False) -> None:
        """Who may read the conversation, where several may; read again when `changed` (someone was brought in)."""
        stored = self.conversation.stored
        self.answers = ModelAnswers(stored.model_answers) if stored is not None else None
        if self.conversation_id is None or stored is None or not (stored.shared or changed):
            self.names = {}  # one person's conversation (most of them): no query
            return
        members = await self.services.store.members(self.user_id, self.conversation_id) or []
        self.names = {user.id: user.name or user.email for user, _ in members} if len(members) > 1 else {}

    def _author(self, message: Message) -> str:
        """Who wrote a question, where several people may read the conversation."""
        return self.conversation.speakers.get(message.author_id or '', '')

    def _may_share(self) -> bool:
        return (self.conversation.access == Access.OWNER and self.conversation_id is not None
                and not self.logins.account().local)  # in local mode there is nobody to share with

    async def _share(self) -> None:
        if self._login_lapsed() or self.conversation_id is None or not self._may_share():
            return
        if self.share_dialog is None:
            with self.share_button:
                self.share_dialog = ShareDialog(self.services.store, self.user_id, self.conversation_id,
                                                public_links=self.services.settings.public_links)
        await self.share_dialog.open()

    async def _access_changed(self, access: Access | None) -> None:
        """Someone was brought in or taken out. This person losing access sees it at once; a new role rebuilds
        the page (what it offers depends on it); anyone else's change names the people anew."""
        if access is None:
            if self.presence is not None:
                self.presence.stop()
            self.main.set_visibility(False)
            self.composer_footer.set_visibility(False)
            self._lost.set_visibility(True)
            return
        if access != self.access_shown:
            ui.navigate.reload()
            return
        await self._read_members(changed=True)
        self._start_presence()  # shared just now

    def _start_presence(self) -> None:
        """Where several people may read, the others there are shown, and who is typing."""
        if self.presence is not None or not self.names or self.conversation_id is None:
            return
        name = self.names.get(self.user_id) or self.logins.account().name or 'Someone'
        self.presence = RoomPresence(self.services.bus, self.conversation_id, self.user_id, name, self._show_presence)
        self.presence.start()
        self.input.client.on_delete(self.presence.stop)  # (also called from a task: no ui.context there)
        presence = self.presence
        self.input.on_value_change(lambda event: presence.typing(event.value or ''))

    def _show_presence(self, present: list[str], typing: list[str]) -> None:
        if present != self.present:
            self.present = present
            self.people.clear()
            with self.people:
                for name in present[:MAX_AVATARS]:
                    _presence_avatar(name, f'{name} is here').props('data-testid=present')
                if len(present) > MAX_AVATARS:  # a room of twenty fits a phone's header too
                    others = present[MAX_AVATARS:]
                    _presence_avatar(f'+{len(others)}', f'Also here: {", ".join(others)}')
        self.typing_note.set_text(f'{", ".join(typing)} {"is" if len(typing) == 1 else "are"} typing…'
                                  if typing else '')

    def _lost_access(self) -> ui.column:
        return notice('lock', 'You no longer have access to this conversation', 'Its owner took you out of it.',
                      'lost-access', start_new=lambda: self.open(''), hidden=True)

    def _login_lapsed(self) -> bool:
        """The login ended while this page was open: a dialog offers to log in again, keeping the draft."""
        draft = (self.input.value or '') if hasattr(self, 'input') else ''
        return login_lapsed(self.logins, self.user_id, self.conversation_id, draft)

    async def send(self) -> None:
        if self._login_lapsed():
            return
        text, files = self.input.value or '', self.tray.files
        if self.tray.reading:
            ui.notify('A file is still being read: send once its chip shows it is ready.', position='top')
            return
        if not text.strip() and not files:
            return
        was_new = self.conversation_id is None
        try:
            await self.conversation.send(text, attachments=files)
        except Refused as refusal:
            ui.notify(str(refusal), type='warning', position='top', multi_line=True)
            return  # the text and the files stay in the composer
        self.input.value = ''
        self.tray.clear()
        if was_new:
            ui.navigate.history.replace(f'/c/{self.conversation_id}')
            self.sidebar.set_active(self.conversation_id)
            self.share_button.set_visibility(self._may_share())
        self._update_busy()
        ui.run_javascript('chatappScrollToBottom()')

    def stop(self) -> None:
        if not self._login_lapsed():
            self.conversation.stop()

    async def regenerate(self, message_id: int, model: str | None = None) -> None:
        if self._login_lapsed():
            return
        try:
            await self.conversation.regenerate(message_id, model)
        except Refused as refusal:
            ui.notify(str(refusal), type='warning', position='top')

    async def edit(self, message_id: int, text: str) -> bool:
        """Send `text` as a new version of the message; False (and the edit stays open) when refused."""
        if self._login_lapsed():
            return False
        try:
            await self.conversation.send(text, instead_of=message_id)
        except Refused as refusal:
            ui.notify(str(refusal), type='warning', position='top')
            return False
        return True

    async def fork(self, message_id: int) -> None:
        if self._login_lapsed():
            return
        fork_id = await self.conversation.fork(message_id)
        if fork_id is not None:
            self.open(fork_id)

    async def switch(self, message_id: int) -> None:
        if not self._login_lapsed():
            await self.conversation.show_sibling(message_id)

    # --- empty and missing ---------------------------------------------------------------------------

    def _empty_state(self) -> ui.column:
        with ui.column().classes('empty-state w-full items-center gap-3 pt-24') as empty:
            ui.icon('forum', size='48px').classes('text-primary opacity-70')
            ui.label('How can I help?').classes('text-2xl font-semibold')
            if self.conversation_id is None:
                self.presets = PresetsPanel(self.services.presets, self.services.catalog, self.user_id,
                                            self.apply_preset, self.start_from)
            if self.services.catalog.demo:
                with ui.card().classes('demo-note').props('flat bordered data-testid=demo-note'):
                    ui.markdown(
                        '**Demo mode:** no model endpoint is configured, so an offline demo model answers. '
                        'Set `OPENAI_API_KEY` (and `OPENAI_BASE_URL` for Ollama, vLLM, Azure, LiteLLM…) '
                        'in `.env` and restart to chat with a real model.')
        return empty

    def _not_found(self) -> None:
        not_found('It may have been deleted, or the link is wrong.', start_new=lambda: self.open(''))


def _file_url(attachment_id: str, thumbnail: bool) -> str:
    return f'/files/{attachment_id}/thumbnail' if thumbnail else f'/files/{attachment_id}'

