"""The frame every page shares: header, history drawer, theme."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from nicegui import app, ui

from chatapp import assets, theme
from chatapp.auth.logins import Logins
from chatapp.components.base_style import add_base_style
from chatapp.pages.transfer import account_menu
from chatapp.rendering import code_style_css
from chatapp.services import Services

CODE_STYLE = code_style_css()


@contextmanager
def frame(services: Services, logins: Logins) -> Iterator[tuple[ui.left_drawer, ui.row]]:
    """Header and an empty drawer; the page fills the drawer and the header's tools (yielded) and the main area."""
    add_base_style()
    ui.add_css(assets.text('chat.css') + CODE_STYLE)
    ui.add_head_html(f'<script>{assets.text("page.js")}</script>')  # inline: its hash is in the CSP
    ui.colors(primary=theme.PRIMARY)
    dark = ui.dark_mode(app.storage.user.get('dark'))
    with ui.header().classes('app-header items-center no-wrap gap-2 px-3 py-2'):
        drawer_button = ui.button(icon='menu').props('flat round dense aria-label="Toggle history"')
        ui.label('chatapp').classes('app-name text-lg font-semibold tracking-tight')
        tools = ui.row().classes('header-tools items-center no-wrap gap-1')
        ui.space()
        ui.button(icon='dark_mode', on_click=lambda: _toggle_dark(dark)) \
            .props('flat round dense aria-label="Toggle dark mode"')
        _account_controls(services, logins)  # the account menu (avatar and name) and Log out; or the local-mode marker
    # open on a wide window, closed on a phone, as the browser decides (show-if-above). With value=None,
    # NiceGUI asks every page whether its drawer is open as it connects, which times out under load
    drawer = ui.left_drawer(value=False, bordered=True, bottom_corner=True).classes('app-drawer p-0') \
        .props('width=290 show-if-above')
    drawer_button.on('click', js_handler=f'() => getElement({drawer.id}).toggle()')  # the browser knows its state
    yield drawer, tools


def conversation_path(conversation_id: str, message_id: int | None = None) -> str:
    """Where a conversation is ('' a new one), opened at one of its messages."""
    if not conversation_id:
        return '/'
    return f'/c/{conversation_id}' + (f'?m={message_id}' if message_id is not None else '')


def _toggle_dark(dark: ui.dark_mode) -> None:
    dark.value = not dark.value
    app.storage.user['dark'] = dark.value


def _account_controls(services: Services, logins: Logins) -> None:
    """In the header: the person's avatar and name, which open the account menu, and Log out; in local mode, the
    local-mode marker, which opens the account menu."""
    account, avatar_hosts = logins.account(), services.settings.avatar_hosts
    if account.local:
        with ui.chip('Local mode', icon='person').props('dense outline clickable aria-haspopup=menu '
                                                        'data-testid=local-mode').classes('model-chip local-mode'):
            account_menu(services, logins, 'Local mode',
                         'No login is configured: everyone who reaches this app is the one local user.')
        return
    with ui.button().props('flat dense no-caps aria-label="Account menu" aria-haspopup=menu data-testid=account') \
            .classes('account-button'), ui.row().classes('items-center no-wrap gap-2'):
        avatar = urlsplit(account.avatar_url)
        if avatar.scheme == 'https' and avatar.netloc.lower() in avatar_hosts:  # as the CSP allows
            with ui.avatar(size='30px'):
                ui.image(account.avatar_url).props('no-spinner referrerpolicy=no-referrer')
        else:
            with ui.avatar(color='primary', text_color='white', size='30px'):
                ui.label(initials(account.name or account.email)).classes('text-sm font-medium')
        ui.label(account.name or account.email).classes('text-sm gt-xs').props('data-testid=user-name')
        account_menu(services, logins, account.name or account.email, account.email)  # (a tooltip would cover it)
    with ui.button(icon='logout').props('flat dense no-caps aria-label="Log out" data-testid=logout') \
            .on('click', js_handler='() => chatappLogout()'):  # a POST: a link or an image cannot log anyone out
        ui.label('Log out').classes('gt-xs q-ml-sm')  # a phone's header shows the icon alone


def initials(name: str) -> str:
    """A person's initials for an avatar: 'Mary Bode' -> 'MB', 'bob@team.example' -> 'BT'."""
    return ''.join(part[0] for part in name.replace('@', ' ').split()[:2]).upper() or '?'
