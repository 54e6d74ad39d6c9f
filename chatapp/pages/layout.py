"""The frame every page shares: header, history drawer, theme."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nicegui import app, ui

from chatapp.components.base_style import add_base_style
from chatapp.pages.login import account_controls
from chatapp.rendering import code_style_css
from chatapp.services import services

STYLE = (Path(__file__).parent.parent / 'components' / 'chat.css').read_text()
CODE_STYLE = code_style_css()
SCROLL_HELPERS = '''<script>
// Follow a growing reply unless the person scrolled up to read. Only a move up stops following (a reply
// growing below never does, however large the update); reaching the end again resumes it. The scroll
// to the bottom happens at most once a frame.
(() => {
  let following = true, scheduled = false, lastY = window.scrollY;
  const nearEnd = () => window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120;
  window.addEventListener("scroll", () => {
    if (window.scrollY < lastY) following = nearEnd();
    else if (nearEnd()) following = true;
    lastY = window.scrollY;
  }, { passive: true });
  window.chatappScrollToBottom = () => {
    following = true;
    window.scrollTo({ top: document.documentElement.scrollHeight });
  };
  // a lone surrogate (half of an emoji, from a paste) would make the socket drop the whole update
  document.addEventListener("input", (e) => {
    const field = e.target;
    if (typeof field.value === "string" && !field.value.isWellFormed()) field.value = field.value.toWellFormed();
  }, true);
  window.chatappLogout = () => {
    window.chatappLoggingOut = true;
    const form = Object.assign(document.createElement("form"), { method: "post", action: "/logout" });
    document.body.append(form);
    form.submit();
  };
  window.chatappFollow = () => {
    if (!following || scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      if (following) window.scrollTo({ top: document.documentElement.scrollHeight });
    });
  };
})();
</script>'''


@contextmanager
def frame() -> Iterator[ui.left_drawer]:
    """Header and an empty drawer; the page fills the drawer (yielded) and the main area."""
    add_base_style()
    ui.add_css(STYLE + CODE_STYLE)
    ui.add_head_html(SCROLL_HELPERS)
    ui.colors(primary='#4f46e5')
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
