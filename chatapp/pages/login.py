"""The login page and the refusal page."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi.responses import RedirectResponse
from nicegui import app, ui

from chatapp import assets, theme
from chatapp.auth.logins import Logins
from chatapp.auth.rules import GITHUB, LOGIN_ERRORS, safe_return_path
from chatapp.components.base_style import add_base_style


def _card_page() -> ui.card:
    ui.colors(primary=theme.PRIMARY)
    add_base_style()
    ui.add_css(assets.text('login.css'))
    ui.dark_mode(app.storage.user.get('dark'))
    with ui.column().classes('w-full min-h-screen items-center justify-center'):
        return ui.card().props('flat bordered').classes('login-card items-stretch gap-4')


def login_page(logins: Logins, next: str, error: str, logged_out: str) -> RedirectResponse | None:
    target = safe_return_path(next)
    if not logins.enabled:
        return RedirectResponse('/', status_code=303)  # local mode: nobody logs in
    if logins.current(ui.context.client.request) is not None:
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
        for provider in logins.providers.values():
            href = f'/auth/{provider.name}/login?{urlencode({"next": target})}'
            button = ui.button(f'Continue with {provider.label}', icon='login' if provider.name != GITHUB else 'code') \
                .props(f'unelevated no-caps size=md type=a data-testid=login-{provider.name}') \
                .classes('q-py-sm')
            if provider.name == GITHUB:
                button.props('color=grey-10')
            button.props['href'] = href
    return None


def refused_page(logins: Logins) -> RedirectResponse | None:
    refusal = logins.refusal()
    if not logins.enabled or not refusal:
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
