"""The conversation's settings panel: its own system prompt, or the app's; where several people write, when the
model answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from chatapp.models import ModelAnswers
from chatapp.presets import MAX_PROMPT_CHARS

ANSWERS = {ModelAnswers.EVERY: 'Every message', ModelAnswers.MENTION: 'Only when mentioned (@model)'}


class ConversationSettings:
    """A dialog; `on_save` gets the prompt to keep (None: the app's default). Where several people write, it also
    sets when the model answers (`on_answers`)."""

    def __init__(self, default_prompt: str, on_save: Callable[[str | None], Awaitable[None]], *,
                 answers: ModelAnswers | None = None,
                 on_answers: Callable[[ModelAnswers], Awaitable[None]] | None = None) -> None:
        self.default_prompt = default_prompt
        self.on_save = on_save
        with ui.dialog().props('data-testid=settings-dialog') as self.dialog, \
                ui.card().classes('settings-card w-full gap-3'):
            ui.label('Conversation settings').classes('text-lg font-semibold')
            self.prompt = ui.textarea('System prompt') \
                .props(f'outlined autogrow counter maxlength={MAX_PROMPT_CHARS} data-testid=system-prompt') \
                .classes('w-full settings-prompt')
            self.note = ui.label().classes('text-xs text-grey-7').props('data-testid=system-prompt-note')
            ui.label('It is the first message of every prompt of this conversation; the model follows it. '
                     'Empty: no system prompt.').classes('text-xs text-grey-7')
            if answers is not None and on_answers is not None:
                ui.label('Several people write here. The model answers').classes('text-sm font-medium pt-2')
                ui.radio(ANSWERS, value=answers, on_change=lambda e: on_answers(ModelAnswers(e.value))) \
                    .props('dense data-testid=model-answers')
            with ui.row().classes('w-full items-center gap-2'):
                ui.button("Use the app's default", on_click=self._use_default) \
                    .props('flat no-caps dense data-testid=system-prompt-default')
                ui.space()
                ui.button('Cancel', on_click=self.dialog.close).props('flat no-caps data-testid=settings-cancel')
                ui.button('Save', on_click=self._save).props('unelevated no-caps data-testid=settings-save')

    def open(self, prompt: str | None) -> None:
        self.prompt.value = self.default_prompt if prompt is None else prompt
        self._show_note(prompt is None)
        self.dialog.open()

    def _use_default(self) -> None:
        self.prompt.value = self.default_prompt
        self._show_note(True)

    def _show_note(self, default: bool) -> None:
        self.note.set_text("The app's default." if default else 'Set for this conversation.')

    async def _save(self) -> None:
        text = self.prompt.value or ''
        if len(text) > MAX_PROMPT_CHARS:
            ui.notify(f'The system prompt has {len(text):,} characters; the limit is {MAX_PROMPT_CHARS:,}.',
                      type='warning', position='top')
            return
        await self.on_save(None if text == self.default_prompt else text)
        self.dialog.close()
