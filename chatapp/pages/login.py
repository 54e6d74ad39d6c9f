"""The login page, the refusal page, the header's account controls, and the dialog shown when a login
expired while a page was open (it keeps the typed draft in the tab's sessionStorage for the round trip)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import urlencode, urlsplit

from fastapi.responses import RedirectResponse
from nicegui import app, background_tasks, ui

from chatapp import assets, theme
from chatapp.auth import (
    GITHUB,
    LOGIN_ERRORS,
    REFUSAL_KEY,
    authenticator,
    current_account,
    current_login,
    safe_return_path,
    still_logged_in,
)
from chatapp.components.base_style import add_base_style

DRAFT_PREFIX = 'chatapp-draft:'


def _card_page() -> ui.card:
    ui.colors(primary=theme.PRIMARY)
    add_base_style()
    ui.add_css(assets.text('login.css'))
    ui.dark_mode(app.storage.user.get('dark'))
    with ui.column().classes('w-full min-h-screen items-center justify-center'):
        return ui.card().props('flat bordered').classes('login-card items-stretch gap-4')


@ui.page('/login', title='Sign in · chatapp')
def login_page(next: str = '', error: str = '', logged_out: str = '') -> RedirectResponse | None:
    auth = authenticator()
    target = safe_return_path(next)
    if not auth.enabled:
        return RedirectResponse('/', status_code=303)  # local mode: nobody logs in
    if current_login(ui.context.client.request) is not None:
        return RedirectResponse(target, status_code=303)
    with _card_page():
        with ui.column().classes('items-center gap-1 w-full'):
            ui.icon('forum', size='40px').classes('text-primary')
            ui.label('Sign in to chatapp').classes('text-xl font-semibold')
            ui.label('Use your team account to continue.').classes('text-sm text-grey-7')
        if error in LOGIN_ERRORS:
            _banner(LOGIN_ERRORS[error], 'error_outline', 'negative', 'login-error')
        elif logged_out:
            _banner('You are logged out.', 'check_circle', 'positive', 'logged-out')
        for provider in auth.providers.values():
            href = f'/auth/{provider.name}/login?{urlencode({"next": target})}'
            button = ui.button(f'Continue with {provider.label}', icon='login' if provider.name != GITHUB else 'code') \
                .props(f'unelevated no-caps size=md type=a data-testid=login-{provider.name}') \
                .classes('q-py-sm')
            if provider.name == GITHUB:
                button.props('color=grey-10')
            button.props['href'] = href
    return None


@ui.page('/login/refused', title='Access refused · chatapp')
def refused_page() -> RedirectResponse | None:
    refusal = app.storage.user.get(REFUSAL_KEY)
    if not authenticator().enabled or not refusal:
        return RedirectResponse('/login', status_code=303)
    with _card_page().props('data-testid=refused'):
        with ui.column().classes('items-center gap-1 w-full'):
            ui.icon('block', size='40px').classes('text-negative')
            ui.label('Access refused').classes('text-xl font-semibold')
        ui.label(refusal['reason']).classes('text-body2').props('data-testid=refused-reason')
        ui.label(f'You are still signed in at {refusal["provider"]}. To use another account, log out there '
                 'first, then sign in again.').classes('text-sm text-grey-7')
        if refusal.get('logout_url'):
            ui.button(f'Log out of {refusal["provider"]}', icon='logout') \
                .props('unelevated no-caps type=a data-testid=provider-logout').props['href'] = refusal['logout_url']
        ui.button('Back to sign-in', icon='arrow_back') \
            .props('flat no-caps type=a href=/login data-testid=back-to-login')
    return None


def _banner(text: str, icon: str, color: str, testid: str) -> None:
    tint = {'negative': 'bg-red-1', 'positive': 'bg-green-1'}[color]
    with ui.row().classes(f'w-full items-start no-wrap gap-2 rounded-borders q-pa-sm text-{color} {tint}') \
            .props(f'data-testid={testid}'):
        ui.icon(icon, size='20px')
        ui.label(text).classes('text-sm')


def account_controls(avatar_hosts: Sequence[str]) -> None:
    """In the header: the person's avatar, name and Log out; in local mode, the local-mode marker."""
    account = current_account()
    if account.local:
        with ui.chip('Local mode', icon='person').props('dense outline data-testid=local-mode') \
                .classes('model-chip local-mode'):
            ui.tooltip('No login is configured: everyone who reaches this app is the one local user.')
        return
    with ui.row().classes('items-center no-wrap gap-2').props('data-testid=account'):
        avatar = urlsplit(account.avatar_url)
        if avatar.scheme == 'https' and avatar.netloc.lower() in avatar_hosts:  # as the CSP allows
            with ui.avatar(size='30px'):
                ui.image(account.avatar_url).props('no-spinner referrerpolicy=no-referrer')
        else:
            with ui.avatar(color='primary', text_color='white', size='30px'):
                ui.label(_initials(account.name or account.email)).classes('text-sm font-medium')
        ui.label(account.name or account.email).classes('text-sm gt-xs').props('data-testid=user-name')
        if account.email:
            ui.tooltip(account.email)
    ui.button('Log out', icon='logout').props('flat dense no-caps data-testid=logout') \
        .on('click', js_handler='() => chatappLogout()')  # a POST: a link or an image cannot log anyone out


def _initials(name: str) -> str:
    return ''.join(part[0] for part in name.replace('@', ' ').split()[:2]).upper() or '?'


# --- expiry without loss ----------------------------------------------------------------------------

def draft_key(conversation_id: str | None) -> str:
    return DRAFT_PREFIX + (conversation_id or 'new')


def login_lapsed(user_id: str, conversation_id: str | None, draft: str) -> bool:
    """True when the login ended while this page was open; then the draft is kept in the tab and a dialog
    offers to log in again, coming back to this conversation."""
    if still_logged_in(user_id):
        return False
    here = f'/c/{conversation_id}' if conversation_id else '/'
    if draft.strip():
        ui.run_javascript(f'sessionStorage.setItem({json.dumps(draft_key(conversation_id))}, {json.dumps(draft)})')
    with ui.dialog().props('persistent data-testid=login-expired') as dialog, ui.card().classes('w-96 gap-3'):
        with ui.row().classes('items-center no-wrap gap-2'):
            ui.icon('lock_clock', size='28px').classes('text-primary')
            ui.label('Your login expired').classes('text-lg font-medium')
        ui.label('Log in again to go on. You come back to this conversation, and what you typed is kept.') \
            .classes('text-sm')
        with ui.row().classes('w-full justify-end'):
            ui.button('Log in again', icon='login') \
                .props('unelevated no-caps type=a data-testid=relogin').props['href'] = \
                f'/login?{urlencode({"next": here})}'
    dialog.open()
    return True


def restore_draft(composer: ui.textarea, conversation_id: str | None) -> None:
    """Put back a draft that was kept across a re-login (once; it is removed from the tab when read)."""
    if not authenticator().enabled:
        return  # local mode: logins never expire, so no draft is ever kept
    client = ui.context.client
    key = json.dumps(draft_key(conversation_id))

    async def restore() -> None:
        await client.connected()
        try:
            draft = await client.run_javascript(
                f'const d = sessionStorage.getItem({key}); sessionStorage.removeItem({key}); return d;', timeout=5)
        except TimeoutError:
            return
        if draft and not composer.value:
            composer.value = draft
    background_tasks.create(restore(), name='restore-draft')
