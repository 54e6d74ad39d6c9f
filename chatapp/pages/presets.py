"""Presets on the new-chat page: chips that set the model and system prompt of the conversation about to start,
cards with their conversation starters, and the editor of a person's own presets (the team's are read-only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from chatapp.llm.catalog import ModelCatalog
from chatapp.pages.model_picker import model_label
from chatapp.presets import MAX_PROMPT_CHARS, MAX_STARTERS, PresetError, PresetInfo, Presets

MAX_CARDS = 8


class PresetsPanel:
    """Shown while the conversation is empty; `on_apply` takes a preset for it, `on_start` sends a starter."""

    def __init__(self, presets: Presets, catalog: ModelCatalog, user_id: str,
                 on_apply: Callable[[PresetInfo | None], None],
                 on_start: Callable[[PresetInfo, str], Awaitable[None]]) -> None:
        self.presets = presets
        self.catalog = catalog
        self.user_id = user_id
        self.on_apply = on_apply
        self.on_start = on_start
        self.chosen: str | None = None
        self.all: list[PresetInfo] = []
        self.container = ui.column().classes('presets-panel w-full items-center gap-3')
        self.editor = PresetEditor(presets, catalog, user_id, self.load)

    async def load(self) -> None:
        self.all = await self.presets.for_user(self.user_id)
        if self.chosen is not None and all(p.id != self.chosen for p in self.all):
            self.chosen = None
            self.on_apply(None)
        self._render()

    def _render(self) -> None:
        self.container.clear()
        with self.container:
            with ui.row().classes('preset-chips items-center justify-center gap-1').props('data-testid=presets'):
                for preset in self.all:
                    chosen = preset.id == self.chosen
                    chip = ui.chip(preset.name, icon='groups' if preset.team else 'person', selectable=True,
                                   selected=chosen, on_click=lambda p=preset: self._toggle(p)) \
                        .props(f'outline dense data-testid=preset-chip data-preset="{preset.id}"') \
                        .classes('preset-chip')
                    with chip:
                        ui.tooltip(f'{"Team preset" if preset.team else "Your preset"} · '
                                   f'{model_label(self.catalog, preset.model or self.catalog.default_key)}')
                ui.button('Presets', icon='tune', on_click=lambda: self.editor.open(self.all)) \
                    .props('flat dense no-caps size=sm data-testid=manage-presets')
            starters = [(preset, text) for preset in self._shown_presets() for text in preset.starters][:MAX_CARDS]
            if starters:
                with ui.element('div').classes('starter-grid w-full').props('data-testid=starters'):
                    for preset, text in starters:
                        with ui.card().classes('starter-card cursor-pointer').props(
                                'flat bordered tabindex=0 role=button data-testid=starter-card') \
                                .on('click', lambda p=preset, t=text: self.on_start(p, t)) \
                                .on('keydown.enter', lambda p=preset, t=text: self.on_start(p, t)):
                            ui.label(text).classes('starter-text')
                            ui.label(preset.name).classes('starter-preset')

    def _shown_presets(self) -> list[PresetInfo]:
        """The chosen preset's starters, or everyone's."""
        return [p for p in self.all if p.id == self.chosen] if self.chosen else self.all

    def _toggle(self, preset: PresetInfo) -> None:
        self.chosen = None if self.chosen == preset.id else preset.id
        self.on_apply(preset if self.chosen else None)
        self._render()


class PresetEditor:
    """A dialog: the team's presets to look at, the person's own to make, change and delete."""

    def __init__(self, presets: Presets, catalog: ModelCatalog, user_id: str,
                 on_change: Callable[[], Awaitable[None]]) -> None:
        self.presets = presets
        self.catalog = catalog
        self.user_id = user_id
        self.on_change = on_change
        self.editing: PresetInfo | None = None
        with ui.dialog().props('data-testid=preset-dialog') as self.dialog, \
                ui.card().classes('preset-card w-full gap-3'):
            ui.label('Presets').classes('text-lg font-semibold')
            self.listing = ui.column().classes('w-full gap-1')
            ui.separator()
            self.form_title = ui.label('New preset').classes('font-medium')
            self.name = ui.input('Name').props('outlined dense maxlength=100 data-testid=preset-name').classes('w-full')
            self.model = ui.select({}, label='Model').props('outlined dense data-testid=preset-model') \
                .classes('w-full')
            self.prompt = ui.textarea('System prompt') \
                .props(f'outlined autogrow maxlength={MAX_PROMPT_CHARS} data-testid=preset-prompt').classes('w-full')
            self.starters = ui.textarea(f'Conversation starters (one a line, at most {MAX_STARTERS})') \
                .props('outlined autogrow data-testid=preset-starters').classes('w-full')
            with ui.row().classes('w-full items-center gap-2'):
                ui.button('New', icon='add', on_click=lambda: self._edit(None)) \
                    .props('flat no-caps dense data-testid=preset-new')
                ui.space()
                ui.button('Close', on_click=self.dialog.close).props('flat no-caps data-testid=preset-close')
                ui.button('Save', on_click=self._save).props('unelevated no-caps data-testid=preset-save')

    def open(self, presets: list[PresetInfo]) -> None:
        self._list(presets)
        self._edit(None)
        self.dialog.open()

    def _list(self, presets: list[PresetInfo]) -> None:
        self.listing.clear()
        with self.listing:
            for preset in presets:
                with ui.row().classes('preset-row w-full items-center no-wrap gap-2') \
                        .props(f'data-testid=preset-row data-preset="{preset.id}"'):
                    ui.icon('groups' if preset.team else 'person', size='18px').classes('text-grey-7')
                    with ui.column().classes('gap-0 min-w-0 flex-1'):
                        ui.label(preset.name).classes('ellipsis')
                        ui.label(model_label(self.catalog, preset.model or self.catalog.default_key)) \
                            .classes('text-xs text-grey-7 ellipsis')
                    if preset.team:
                        ui.label('Team').classes('text-xs text-grey-7')
                        continue
                    ui.button(icon='edit', on_click=lambda p=preset: self._edit(p)) \
                        .props('flat round dense size=sm aria-label="Edit preset" data-testid=preset-edit')
                    ui.button(icon='delete', on_click=lambda p=preset: self._delete(p)) \
                        .props('flat round dense size=sm aria-label="Delete preset" data-testid=preset-delete')
            if not presets:
                ui.label('No presets yet.').classes('text-grey-7')

    def _edit(self, preset: PresetInfo | None) -> None:
        self.editing = preset
        options = {'': 'Default model'} | {m.key: m.label for m in self.catalog.models()}
        if preset is not None and preset.model and preset.model not in options:
            options[preset.model] = model_label(self.catalog, preset.model)
        self.model.set_options(options, value=preset.model if preset is not None else '')
        self.form_title.set_text(f'Edit “{preset.name}”' if preset is not None else 'New preset')
        self.name.value = preset.name if preset is not None else ''
        self.prompt.value = (preset.system_prompt or '') if preset is not None else ''
        self.starters.value = '\n'.join(preset.starters) if preset is not None else ''

    async def _save(self) -> None:
        prompt = self.prompt.value or ''
        try:
            await self.presets.save(self.user_id, self.editing.id if self.editing else None, name=self.name.value or '',
                                    model=self.model.value or '', system_prompt=prompt if prompt.strip() else None,
                                    starters=(self.starters.value or '').splitlines())
        except PresetError as problem:
            ui.notify(str(problem), type='warning', position='top')
            return
        ui.notify('Preset saved', position='bottom', timeout=1200)
        await self._refresh()
        self._edit(None)

    async def _delete(self, preset: PresetInfo) -> None:
        await self.presets.delete(self.user_id, preset.id)
        await self._refresh()
        if self.editing is not None and self.editing.id == preset.id:
            self._edit(None)

    async def _refresh(self) -> None:
        await self.on_change()
        self._list(await self.presets.for_user(self.user_id))
