"""The frame every page shares: header, history drawer, theme."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import app, ui

from chatapp import assets, theme
from chatapp.components.base_style import add_base_style
from chatapp.pages.login import account_controls
from chatapp.rendering import code_style_css
from chatapp.services import services

CODE_STYLE = code_style_css()


@contextmanager
def frame() -> Iterator[ui.left_drawer]:
    """Header and an empty drawer; the page fills the drawer (yielded) and the main area."""
    add_base_style()
    ui.add_css(assets.text('chat.css') + CODE_STYLE)
    ui.add_head_html(f'<script>{assets.text("page.js")}</script>')  # inline: its hash is in the CSP
    ui.colors(primary=theme.PRIMARY)
    dark = ui.dark_mode(app.storage.user.get('dark'))
    label = services().generations.model_label
    with ui.header().classes('app-header items-center no-wrap gap-2 px-3 py-2'):
        drawer_button = ui.button(icon='menu').props('flat round dense aria-label="Toggle history"')
        ui.label('chatapp').classes('text-lg font-semibold tracking-tight')
        ui.chip(label, icon='smart_toy').props('dense outline').classes('model-chip')
        ui.space()
        ui.button(icon='dark_mode', on_click=lambda: _toggle_dark(dark)) \
            .props('flat round dense aria-label="Toggle dark mode"')
        account_controls(services().settings.avatar_hosts)  # avatar, name and Log out; or the local-mode marker
    # open on a wide window, closed on a phone, as the browser decides (show-if-above). With value=None,
    # NiceGUI asks every page whether its drawer is open as it connects, which times out under load
    drawer = ui.left_drawer(value=False, bordered=True, bottom_corner=True).classes('app-drawer p-0') \
        .props('width=290 show-if-above')
    drawer_button.on('click', js_handler=f'() => getElement({drawer.id}).toggle()')  # the browser knows its state
    yield drawer


def _toggle_dark(dark: ui.dark_mode) -> None:
    dark.value = not dark.value
    app.storage.user['dark'] = dark.value
