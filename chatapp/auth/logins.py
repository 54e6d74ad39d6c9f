"""Who is acting: the login of a request or of an open page, kept on the server.

The login lives in `app.storage.user`; the session cookie carries only a random key that must match it.
So a cookie planted before the login (session fixation) never becomes one, logging out in one tab ends
the login in every tab, and an expired login is noticed by pages that are still open.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from fastapi import Request
from nicegui import app, ui

from chatapp.auth.rules import Account, configured_providers
from chatapp.events import Event, LoggedOut, login_topic
from chatapp.models import User
from chatapp.services import Services

LOGIN_KEY = 'chatapp_login'        # in the session cookie: must equal the key of the login on the server
AUTH_KEY = 'chatapp_auth'          # in app.storage.user: the login
REFUSAL_KEY = 'chatapp_refusal'    # in app.storage.user: why the last sign-in was refused


class LoginRequired(Exception):
    """There is no valid login for this request (never raised in local mode)."""


def _valid(auth: Any) -> bool:
    return isinstance(auth, dict) and auth.get('expires_at', 0) > time.time()


class Logins:
    """The logins of this app; with no provider configured, everyone is the one local user."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.providers = configured_providers(services.settings)

    @property
    def enabled(self) -> bool:
        return bool(self.providers)

    def current(self, request: Request) -> dict[str, Any] | None:
        """The request's login, or None: it must exist, be unexpired, and match the key in the cookie."""
        auth = app.storage.user.get(AUTH_KEY)
        key = request.session.get(LOGIN_KEY)
        if not _valid(auth) or not isinstance(key, str) or not secrets.compare_digest(auth.get('key', ''), key):
            return None
        return auth

    def begin(self, request: Request, user: User, provider: str, id_token: str) -> None:
        """Log this browser in as `user`, with a new key: no key from before the login stays valid."""
        key = secrets.token_urlsafe(32)
        request.session[LOGIN_KEY] = key
        app.storage.user[AUTH_KEY] = {
            'key': key, 'user_id': user.id, 'provider': provider, 'name': user.name or user.email,
            'email': user.email, 'avatar_url': user.avatar_url, 'id_token': id_token,
            'expires_at': time.time() + self.services.settings.session_hours * 3600}

    def end(self, request: Request) -> dict[str, Any] | None:
        """End this browser's login; returns what it was."""
        request.session.pop(LOGIN_KEY, None)
        return app.storage.user.pop(AUTH_KEY, None)

    def log_out(self, request: Request) -> dict[str, Any] | None:
        """End this browser's login and tell its open pages, on every instance."""
        ended = self.end(request)
        if ended:
            topic = login_topic(ended.get('key', ''))
            self.services.bus.publish(topic, LoggedOut(topic))
        return ended

    def request_user_id(self, request: Request) -> str | None:
        """For a plain HTTP route: the id of the person the request is from, or None without a valid login (the
        login middleware has sent such a GET to the login page already)."""
        if not self.enabled:
            return self.services.local_user.id if self.services.local_user is not None else None
        login = self.current(request)
        return login['user_id'] if login is not None else None

    # --- inside a page, and in its event handlers ----------------------------------------------------------

    def acting_user_id(self) -> str:
        """The id of the person this page is for."""
        if not self.enabled:
            user = self.services.local_user
            if user is None:
                raise RuntimeError('the local user is created at start-up')
            return user.id
        login = self.current(ui.context.client.request)
        if login is None:
            raise LoginRequired()
        return login['user_id']

    def still_logged_in(self, user_id: str) -> bool:
        """For an action on an open page: is the login this page was built for still there?

        The page's request was checked when it was built; since then the login may have expired or ended
        (logged out in another tab), which the server-side login shows.
        """
        if not self.enabled:
            return True
        auth = app.storage.user.get(AUTH_KEY)
        return _valid(auth) and auth.get('user_id') == user_id

    def on_logout(self, handler: Callable[[], None]) -> None:
        """Call `handler` when the login this page was opened with ends, in any tab (never in local mode)."""
        login = self.current(ui.context.client.request) if self.enabled else None
        if login is None:
            return

        def logged_out(event: Event) -> None:
            handler()
        ui.context.client.on_delete(self.services.bus.subscribe(login_topic(login['key']), logged_out))

    def account(self) -> Account:
        if not self.enabled:
            return Account('Local user', '', '', local=True)
        auth = self.current(ui.context.client.request) or {}
        return Account(auth.get('name', ''), auth.get('email', ''), auth.get('avatar_url', ''), local=False)

    def refusal(self) -> dict[str, str] | None:
        """Why this browser's last sign-in was refused, if it was."""
        return app.storage.user.get(REFUSAL_KEY)

    def refuse(self, reason: str, provider_label: str, logout_url: str) -> None:
        app.storage.user[REFUSAL_KEY] = {'reason': reason, 'provider': provider_label, 'logout_url': logout_url}

    def forget_refusal(self) -> None:
        app.storage.user.pop(REFUSAL_KEY, None)
