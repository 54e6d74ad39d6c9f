"""A login that ends while a page is open loses nothing: a dialog offers to log in again, and the typed
draft waits in the tab's sessionStorage for the round trip."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from nicegui import background_tasks, ui

from chatapp.auth.logins import Logins

DRAFT_PREFIX = 'chatapp-draft:'


def draft_key(conversation_id: str | None) -> str:
    return DRAFT_PREFIX + (conversation_id or 'new')


def login_lapsed(logins: Logins, user_id: str, conversation_id: str | None, draft: str) -> bool:
    """True when the login ended while this page was open; then the draft is kept in the tab and a dialog
    offers to log in again, coming back to this conversation."""
    if logins.still_logged_in(user_id):
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


def restore_draft(logins: Logins, composer: ui.textarea, conversation_id: str | None) -> None:
    """Put back a draft that was kept across a re-login (once; it is removed from the tab when read)."""
    if not logins.enabled:
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
