"""The model picker in the chat header, and the list that regenerates a reply with another model. A model whose
endpoint does not answer is greyed out, with the reason."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from chatapp.llm.catalog import ModelCatalog, ModelInfo


def model_label(catalog: ModelCatalog, key: str) -> str:
    """How a model is named to people: its label, or the stored key of one no longer configured."""
    model = catalog.get(key) if key else None
    return model.label if model is not None else key.partition('/')[2] or key


def describe(model: ModelInfo) -> str:
    """The line under a model's name: where it runs, its window, whether it sees images, or why it cannot answer."""
    if not model.available:
        return model.reason
    details = []
    if model.context_window:
        details.append(f'{short_count(model.context_window)} context')
    if model.images:
        details.append('images')
    if model.price_input is not None and model.price_output is not None:
        details.append(f'${model.price_input:g} / ${model.price_output:g} per 1M tokens')
    return ' · '.join(details)


def short_count(count: int) -> str:
    if count >= 1_000_000:
        return f'{count / 1_000_000:.3g}M'
    if count >= 1000:
        return f'{count / 1000:.3g}k'
    return str(count)


def model_items(catalog: ModelCatalog, chosen: str, on_pick: Callable[[str], Awaitable[None] | None]) -> None:
    """One item per model, under its endpoint's name when there are several, in the menu or dialog being built;
    the chosen one is checked."""
    models = catalog.models()
    endpoints = list(dict.fromkeys(model.endpoint for model in models))
    for endpoint in endpoints:
        if len(endpoints) > 1:
            ui.item_label(endpoint).props('header').classes('model-group text-xs')
        for model in models:
            if model.endpoint == endpoint:
                _model_item(model, model.key == chosen, on_pick)


def _model_item(model: ModelInfo, chosen: bool, on_pick: Callable[[str], Awaitable[None] | None]) -> None:
    item = ui.item(on_click=lambda key=model.key: on_pick(key)) \
        .props(f'clickable v-close-popup dense data-testid=model-option data-model="{model.key}"')
    item.set_enabled(model.available)
    with item:
        with ui.item_section().props('avatar').classes('model-check'):
            if chosen:
                ui.icon('check', size='18px', color='primary')
        with ui.item_section():
            ui.item_label(model.label).classes('model-option-label')
            if describe(model):
                ui.item_label(describe(model)).props('caption').classes('model-option-caption')


class ModelPicker:
    """The model of the next reply: a button naming it, with a menu of the models people may pick."""

    def __init__(self, catalog: ModelCatalog, chosen: str, on_pick: Callable[[str], Awaitable[None]]) -> None:
        self.catalog = catalog
        self.chosen = chosen
        self.on_pick = on_pick
        self.button = ui.button(model_label(catalog, chosen), icon='smart_toy') \
            .props('flat dense no-caps icon-right=expand_more aria-label="Model" data-testid=model-picker') \
            .classes('model-picker')
        with self.button:
            self.menu = ui.menu().props('data-testid=model-menu').classes('model-menu')
        self._fill()

    def show(self, key: str) -> None:
        self.chosen = key
        self.button.set_text(model_label(self.catalog, key))

    def _fill(self) -> None:
        self.menu.clear()
        with self.menu:
            model_items(self.catalog, self.chosen, self._pick)

    async def _pick(self, key: str) -> None:
        self.menu.close()  # closed on the server too: refilling an open menu would show it again
        self.show(key)
        self._fill()  # the catalog as it is now: an endpoint may have gone down or come back
        await self.on_pick(key)
