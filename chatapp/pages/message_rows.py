"""The rows of a conversation: the person's messages (edit), the model's replies (copy, regenerate), and the
"2 / 3" switcher on a message that has siblings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nicegui import ui

from chatapp.components.reply_view import ReplyView
from chatapp.engine import ShownMessage
from chatapp.events import Usage
from chatapp.models import Message, Status
from chatapp.pages.attachments import attachment_chips

STATUS_TEXT = {
    Status.STOPPED: 'Stopped',
    Status.ERROR: 'Error',
    Status.INTERRUPTED: 'Interrupted',
}
FAILED = (Status.ERROR, Status.INTERRUPTED, Status.STOPPED)


@dataclass(frozen=True)
class RowActions:
    """What the page does when a row's button is used; each takes the message's id."""
    regenerate: Callable[[int], Awaitable[None]]
    edit: Callable[[int, str], Awaitable[bool]]  # True when the edit was sent
    switch: Callable[[int], Awaitable[None]]
    fork: Callable[[int], Awaitable[None]] | None  # None: not offered (a visitor who is not logged in)
    regenerate_with: Callable[[int], None]  # asks which model, then regenerates with it
    model_label: Callable[[str], str]  # a model's name for people, from its key
    author: Callable[[Message], str]  # who wrote a question, named where several people write ('' otherwise)
    can_write: Callable[[], bool]  # a viewer reads: no edit, regenerate or switch
    file_url: Callable[[str, bool], str]  # where an attachment (its id; True: its thumbnail) is read from


def stored_usage(message: Message) -> Usage | None:
    if message.completion_tokens is None:
        return None
    return Usage(message.prompt_tokens, message.completion_tokens, message.usage_estimated, message.first_token_ms,
                 message.tokens_per_second, message.cost)


def usage_text(model: str, usage: Usage | None) -> str:
    """'GPT-4o · 1,204 → 316 tokens · 42 tok/s · $0.0061': what wrote a reply, what it cost, how fast it came."""
    parts = [model] if model else []
    if usage is not None and usage.completion_tokens is not None:
        about = '~' if usage.estimated else ''
        parts.append(f'{about}{usage.prompt_tokens or 0:,} → {about}{usage.completion_tokens:,} tokens')
        if usage.tokens_per_second:
            parts.append(f'{usage.tokens_per_second:.0f} tok/s')
        if usage.first_token_ms is not None:
            wait = usage.first_token_ms
            parts.append(f'first token {wait} ms' if wait < 1000 else f'first token {wait / 1000:.1f} s')
        if usage.cost is not None:
            parts.append(_dollars(usage.cost))
    return ' · '.join(parts)


def _dollars(cost: float) -> str:
    if cost == 0:
        return '$0'
    if cost < 0.0001:
        return '<$0.0001'
    return f'${cost:.4f}' if cost < 1 else f'${cost:.2f}'


def action_button(icon: str, label: str, testid: str, on_click: Callable) -> ui.button:
    """A row's button; its tooltip is drawn by CSS from its label (chat.css: .row-action), not by a tooltip
    element: a page of thirty messages would otherwise build a hundred of them. Its props are given as a dict:
    NiceGUI parses a props string with `ast.literal_eval` for each quoted value, and 20 sends at once spent
    more on that than on the rest of their buttons."""
    button = ui.button(icon=icon, on_click=on_click).classes('row-action')
    button.props.update({'flat': True, 'round': True, 'dense': True, 'size': 'sm', 'aria-label': label,
                         'data-testid': testid})
    return button


def fork_button(actions: RowActions, message_id: int) -> None:
    fork = actions.fork
    if fork is not None:
        action_button('call_split', 'Start a new conversation from here', 'fork', lambda: fork(message_id))


def sibling_switcher(shown: ShownMessage, switch: Callable[[int], Awaitable[None]]) -> None:
    """"2 / 3": which of its siblings this message is, and buttons to the one before and after."""
    siblings = shown.siblings
    if len(siblings) < 2:
        return
    position = siblings.index(shown.message.id or 0)
    with ui.row().classes('sibling-switcher items-center no-wrap gap-0').props('data-testid=siblings'):
        before = ui.button(icon='chevron_left', on_click=lambda: switch(siblings[position - 1])) \
            .props('flat round dense size=sm aria-label="Previous version" data-testid=sibling-previous')
        before.set_enabled(position > 0)
        ui.label(f'{position + 1} / {len(siblings)}').classes('text-xs text-grey-7') \
            .props('data-testid=sibling-position')
        after = ui.button(icon='chevron_right', on_click=lambda: switch(siblings[position + 1])) \
            .props('flat round dense size=sm aria-label="Next version" data-testid=sibling-next')
        after.set_enabled(position < len(siblings) - 1)


class QuestionRow:
    """A message of the person's; Edit opens it in place, and Save & send makes a new branch beside it."""

    def __init__(self, shown: ShownMessage, actions: RowActions) -> None:
        assert shown.message.id is not None
        self.message_id = shown.message.id
        self.text = shown.message.content
        self.attached_chars = shown.message.attached_chars
        self.files = len(shown.attachments)
        self.actions = actions
        with ui.column().classes('question-row self-end items-end gap-1') \
                .props(f'data-message-id={self.message_id}') as self.row:
            author = actions.author(shown.message)
            if author:
                ui.label(author).classes('message-author').props('data-testid=message-author')
            if shown.attachments:
                attachment_chips(shown.attachments, actions.file_url)
            self.bubble = ui.label(self.text).classes('user-bubble').props('data-testid=message-user')
            self.bubble.set_visibility(bool(self.text))  # a question may be its files alone
            with ui.row().classes('message-actions items-center no-wrap gap-1') as self.tools:
                if actions.can_write():
                    sibling_switcher(shown, actions.switch)
                    action_button('edit', 'Edit message', 'edit', self.open_editor)
                fork_button(actions, self.message_id)
        self.editor: ui.column | None = None

    def open_editor(self) -> None:
        if self.editor is not None:
            return
        self.bubble.set_visibility(False)
        self.tools.set_visibility(False)
        with self.row, ui.column().classes('edit-box w-full gap-2') as self.editor:
            self.field = ui.textarea(value=self.text) \
                .props('autogrow outlined dense autofocus aria-label="Edit message" data-testid=edit-input') \
                .classes('w-full') \
                .on('keydown', self.save, js_handler='(e) => chatappSendOnEnter(e, emit)') \
                .on('keydown.esc', self.close_editor)
            if self.files:
                ui.label(f'Its {"file stays" if self.files == 1 else f"{self.files} files stay"} attached.') \
                    .classes('text-xs text-grey-7').props('data-testid=edit-files-note')
            with ui.row().classes('w-full justify-end gap-2'):
                ui.button('Cancel', on_click=self.close_editor).props('flat no-caps data-testid=edit-cancel')
                ui.button('Save & send', on_click=self.save).props('unelevated no-caps data-testid=edit-save')

    def close_editor(self) -> None:
        if self.editor is not None:
            self.editor.delete()
            self.editor = None
        self.bubble.set_visibility(bool(self.text))
        self.tools.set_visibility(True)

    async def save(self) -> None:
        sent = self.editor is not None and await self.actions.edit(self.message_id, self.field.value or '')
        if sent and not self.row.is_deleted:  # (the new branch usually replaces this row)
            self.close_editor()

    def delete(self) -> None:
        self.row.delete()


class ReplyRow:
    """An assistant reply: its text, its state, and what can be done with it."""

    def __init__(self, shown: ShownMessage, actions: RowActions) -> None:
        message = shown.message
        assert message.id is not None
        self.message_id = message.id
        self.actions = actions
        with ui.column().classes('reply-row w-full gap-1') \
                .props(f'data-testid=message-assistant data-message-id={self.message_id}') as self.row:
            self.view = ReplyView(shown.text, streaming=shown.streaming,
                                  html=None if shown.streaming else message.html)
            with ui.row().classes('reply-actions items-center gap-1') as self.tools:
                writer = actions.can_write()
                if writer:
                    sibling_switcher(shown, actions.switch)
                action_button('content_copy', 'Copy reply', 'copy', self.copy)
                self.regenerate_button = action_button('refresh', 'Regenerate', 'regenerate', self.regenerate)
                self.regenerate_button.set_visibility(writer)
                if writer:
                    action_button('swap_horiz', 'Answer with another model', 'regenerate-with',
                                  lambda: actions.regenerate_with(self.message_id))
                fork_button(actions, self.message_id)
        # made when first needed: most replies never show them, and every element of a long conversation
        # costs each open page memory on the server
        self.notice: ui.label | None = None
        self.problem: ui.label | None = None
        self.retry_button: ui.button | None = None
        self.state: ui.label | None = None
        self.model = actions.model_label(message.model)
        with self.tools:
            self.usage = ui.label(usage_text(self.model, None if shown.streaming else stored_usage(message))) \
                .classes('reply-usage').props('data-testid=reply-usage')
        self.show(Status.STREAMING if shown.streaming else message.status, message.error)

    def show(self, status: Status, error: str) -> None:
        streaming = status == Status.STREAMING
        self.row.classes(add='streaming' if streaming else '', remove='' if streaming else 'streaming')
        if error and not streaming and self.problem is None:
            with self.row:
                self.problem = ui.label().classes('reply-problem').props('data-testid=message-error')
            self.problem.move(target_index=self.row.default_slot.children.index(self.tools))
        if self.problem is not None:
            self.problem.set_text(error)
            self.problem.set_visibility(bool(error) and not streaming)
        failed = status in FAILED and self.actions.can_write()
        if failed and self.retry_button is None:
            with self.tools:
                self.retry_button = ui.button('Retry', icon='refresh', on_click=self.regenerate) \
                    .props('flat dense no-caps size=sm data-testid=retry')
            self.usage.move(self.tools)
        if self.retry_button is not None:
            self.retry_button.set_visibility(failed)
        self.regenerate_button.set_visibility(not failed and self.actions.can_write())  # Retry says it if it failed
        if STATUS_TEXT.get(status) and self.state is None:
            with self.tools:
                self.state = ui.label().classes('text-xs text-grey-6')
            self.usage.move(self.tools)  # the usage line stays last
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

    def ended(self, status: Status, error: str, usage: Usage | None) -> None:
        if self.notice is not None:
            self.notice.set_visibility(False)
        self.view.finish()
        self.usage.set_text(usage_text(self.model, usage))
        self.show(status, error)

    def copy(self) -> None:
        ui.clipboard.write(self.view.text)
        ui.notify('Copied', position='bottom', timeout=1000)

    async def regenerate(self) -> None:
        await self.actions.regenerate(self.message_id)

    def delete(self) -> None:
        self.row.delete()
