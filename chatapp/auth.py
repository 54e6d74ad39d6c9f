"""Who is acting: login through an OpenID Connect provider or GitHub, the login session, who may enter.

With no provider configured the app runs in single-user local mode and everyone is the local user.
Otherwise every page needs a login. The flow is Authlib's Starlette client on NiceGUI's own session
(the signed cookie that `storage_secret` sets up, no second session middleware): authorization code
with state, nonce and PKCE; the ID token is verified (signature, issuer, audience, expiry, nonce).

The login itself lives on the server, in `app.storage.user`; the cookie carries only a random key that
must match it. So a cookie planted before the login (session fixation) never becomes one, logging out
in one tab ends the login in every tab, and an expired login is noticed by pages that are still open.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.integrations.starlette_client import OAuth
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from nicegui import app, ui
from sqlalchemy.exc import IntegrityError
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from chatapp import assets, theme
from chatapp.events import LoggedOut, login_topic
from chatapp.services import services
from chatapp.settings import Settings

log = logging.getLogger(__name__)

OIDC = 'oidc'
GITHUB = 'github'
GITHUB_LOGOUT_URL = 'https://github.com/logout'
LOGIN_KEY = 'chatapp_login'        # in the session cookie: must equal the key of the login on the server
AUTH_KEY = 'chatapp_auth'          # in app.storage.user: the login
REFUSAL_KEY = 'chatapp_refusal'    # in app.storage.user: why the last sign-in was refused
LOGIN_FLOW_SECONDS = 600           # the cookie outlives even a very short session by the time a sign-in takes
OPEN_PATHS = ('/login', '/logout', '/healthz', '/favicon.ico')
OPEN_PREFIXES = ('/login/', '/auth/', '/_nicegui')  # '/_nicegui' also covers the socket at /_nicegui_ws
LOGIN_ERRORS = {  # ?error= on /login: fixed texts, never anything taken from the request
    'state': 'The sign-in could not be completed: it did not match a sign-in started in this browser '
             '(it may have expired, or the link was altered). Please try again.',
    'failed': 'The sign-in could not be completed. Please try again.',
    'denied': 'The sign-in was cancelled at the provider.',
    'unavailable': 'The login provider cannot be reached right now. Please try again in a moment.',
}


class LoginRequired(Exception):
    """There is no valid login for this request (never raised in local mode)."""


@dataclass(frozen=True)
class Identity:
    """Who the provider says the person is."""
    provider: str  # the users table's provider: 'github', or the OIDC issuer
    subject: str   # the provider's stable id for the person
    email: str = ''
    email_verified: bool = False
    name: str = ''
    avatar_url: str = ''


@dataclass(frozen=True)
class Provider:
    name: str   # in URLs: /auth/<name>/login, /auth/<name>/callback
    label: str  # on the login button


@dataclass(frozen=True)
class Account:
    """Who the header shows."""
    name: str
    email: str
    avatar_url: str
    local: bool


# --- pure rules (unit-tested) ----------------------------------------------------------------------

def safe_return_path(target: str | None) -> str:
    """`target` when it is a path on this site, else '/': after login nobody is sent to another host."""
    if not target or len(target) > 2000 or not target.startswith('/') or target.startswith('//'):
        return '/'
    # browsers read '\' as '/' and drop tabs and newlines, so '/\evil' and '/\t/evil' mean '//evil'
    if any(char == '\\' or char.isspace() or ord(char) < 0x20 or ord(char) == 0x7f for char in target):
        return '/'
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return '/'
    if parts.path in OPEN_PATHS or parts.path.startswith(('/login/', '/auth/')):
        return '/'  # never back into the login itself
    return target


def refusal_reason(identity: Identity, settings: Settings, provider_label: str) -> str | None:
    """Why this person may not enter, in words for them; None when they may.

    With neither CHATAPP_ALLOWED_DOMAINS nor CHATAPP_ALLOWED_EMAILS set, anyone the provider vouches for
    enters. Otherwise the provider must say the email is verified, and it must be listed itself or
    belong to a listed domain (exactly that domain, not its subdomains).
    """
    domains, emails = settings.allowed_domains, settings.allowed_emails
    if not (domains or emails):
        return None
    email = identity.email.strip().lower()
    if '@' not in email:
        return f'Your {provider_label} account has no email address, and this app admits only listed addresses.'
    if not identity.email_verified:
        return (f'{provider_label} does not confirm that {email} is verified, and this app admits only '
                'verified addresses.')
    if email in emails or email.rsplit('@', 1)[1] in domains:
        return None
    if domains:
        listed = ', '.join(domains)
        admitted = f'addresses at {listed}' + (' and some individual addresses' if emails else '')
    else:
        admitted = 'individually listed addresses'
    return f'{email} is not allowed to use this app: it admits only {admitted}.'


def oidc_identity(provider: str, claims: Mapping[str, Any]) -> Identity:
    email = str(claims.get('email') or '').strip()
    name = str(claims.get('name') or claims.get('preferred_username') or email or claims['sub'])
    return Identity(provider, str(claims['sub']), email, claims.get('email_verified') in (True, 'true'),
                    name, _web_url(claims.get('picture')))


def github_identity(user: Mapping[str, Any], emails: list[Mapping[str, Any]]) -> Identity:
    """GitHub's profile plus its primary email, which counts as verified only when GitHub says so."""
    primary = next((entry for entry in emails if entry.get('primary')), None) or {}
    return Identity(GITHUB, str(user['id']), str(primary.get('email') or ''), primary.get('verified') is True,
                    str(user.get('name') or user.get('login') or ''), _web_url(user.get('avatar_url')))


def oidc_provider_key(issuer: str) -> str:
    """The users table's provider for an OIDC issuer: the issuer itself, shortened with a hash if long."""
    if len(issuer) <= 64:
        return issuer
    return issuer[:47] + '#' + hashlib.sha256(issuer.encode()).hexdigest()[:16]


def is_loopback_host(host: str) -> bool:
    if host.strip().lower() == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host.strip().strip('[]')).is_loopback
    except ValueError:
        return False


def session_cookie_options(settings: Settings) -> dict[str, Any]:
    """NiceGUI's session cookie: httponly (always), SameSite=Lax, Secure behind an https public URL."""
    options: dict[str, Any] = {'same_site': 'lax', 'https_only': settings.public_url.startswith('https://')}
    if settings.login_enabled:
        options['max_age'] = max(math.ceil(settings.session_hours * 3600), LOGIN_FLOW_SECONDS)
    return options


def _web_url(value: Any) -> str:
    url = str(value or '')
    return url if url.startswith(('https://', 'http://')) else ''


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


# --- the login of a request or of an open page -----------------------------------------------------

def _valid(auth: Any) -> bool:
    return isinstance(auth, dict) and auth.get('expires_at', 0) > time.time()


def current_login(request: Request) -> dict[str, Any] | None:
    """The request's login, or None: it must exist, be unexpired, and match the key in the cookie."""
    auth = app.storage.user.get(AUTH_KEY)
    key = request.session.get(LOGIN_KEY)
    if not _valid(auth) or not isinstance(key, str) or not secrets.compare_digest(auth.get('key', ''), key):
        return None
    return auth


def acting_user_id() -> str:
    """The id of the person this page is for; inside a page, and in its event handlers."""
    if not authenticator().enabled:
        user = services().local_user
        if user is None:
            raise RuntimeError('the local user is created at start-up')
        return user.id
    login = current_login(ui.context.client.request)
    if login is None:
        raise LoginRequired()
    return login['user_id']


def still_logged_in(user_id: str) -> bool:
    """For an action on an open page: is the login this page was built for still there?

    The page's request was checked when it was built; since then the login may have expired or ended
    (logged out in another tab), which the server-side login shows.
    """
    if not authenticator().enabled:
        return True
    auth = app.storage.user.get(AUTH_KEY)
    return _valid(auth) and auth.get('user_id') == user_id


def page_login_topic() -> str | None:
    """Inside a page: the bus topic on which its login's end is announced (None in local mode)."""
    if not authenticator().enabled:
        return None
    login = current_login(ui.context.client.request)
    return login_topic(login['key']) if login else None


def current_account() -> Account:
    if not authenticator().enabled:
        return Account('Local user', '', '', local=True)
    auth = current_login(ui.context.client.request) or {}
    return Account(auth.get('name', ''), auth.get('email', ''), auth.get('avatar_url', ''), local=False)


# --- the flow --------------------------------------------------------------------------------------

class Authenticator:
    """The configured providers and the routes of the login flow."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.oauth = OAuth()
        self.providers: dict[str, Provider] = {}
        if settings.oidc_discovery_url:
            self.oauth.register(OIDC, client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret,
                                server_metadata_url=settings.oidc_discovery_url,
                                client_kwargs={'scope': settings.oidc_scopes, 'code_challenge_method': 'S256',
                                               'timeout': 15})
            self.providers[OIDC] = Provider(OIDC, settings.oidc_name)
        if settings.github_client_id:
            self.oauth.register(GITHUB, client_id=settings.github_client_id,
                                client_secret=settings.github_client_secret,
                                authorize_url='https://github.com/login/oauth/authorize',
                                access_token_url='https://github.com/login/oauth/access_token',
                                api_base_url='https://api.github.com/',
                                client_kwargs={'scope': 'read:user user:email', 'code_challenge_method': 'S256',
                                               'timeout': 15})
            self.providers[GITHUB] = Provider(GITHUB, 'GitHub')

    @property
    def enabled(self) -> bool:
        return bool(self.providers)

    def base_url(self, request: Request) -> str:
        return self.settings.public_url or str(request.base_url).rstrip('/')

    async def start(self, request: Request, provider: str) -> Response:
        """/auth/<provider>/login?next=/c/…: off to the provider, with state, nonce and PKCE kept in the session."""
        if provider not in self.providers:
            return RedirectResponse('/login', status_code=303)
        client = self.oauth.create_client(provider)
        redirect_uri = f'{self.base_url(request)}/auth/{provider}/callback'
        try:
            authorization = await client.create_authorization_url(redirect_uri)
        except Exception as error:  # the discovery document or the network failed
            log.warning('login via %s cannot start: %r', provider, error)
            return _to_login('unavailable')
        url = authorization.pop('url')
        app.storage.user.pop(REFUSAL_KEY, None)
        await client.save_authorize_data(request, redirect_uri=redirect_uri,
                                         next=safe_return_path(request.query_params.get('next')), **authorization)
        return RedirectResponse(url, status_code=302)

    async def callback(self, request: Request, provider: str) -> Response:
        """/auth/<provider>/callback: check the answer, decide who may enter, and start the login."""
        if provider not in self.providers:
            return RedirectResponse('/login', status_code=303)
        client = self.oauth.create_client(provider)
        params = request.query_params
        if params.get('error'):
            log.info('login via %s ended at the provider: %s', provider, params.get('error'))
            return _to_login('denied' if params.get('error') == 'access_denied' else 'failed')
        started = await client.framework.get_state_data(request.session, params.get('state'))
        if not started:
            log.warning('login via %s refused: its state matches no sign-in started in this browser', provider)
            return _to_login('state')
        try:
            token = await client.authorize_access_token(request)
            if provider == OIDC:
                identity = await self._oidc_identity(client, token, params.get('iss'))
            else:
                identity = await self._github_identity(client, token)
        except Exception as error:  # a bad code, a token that does not verify, the provider failing
            log.warning('login via %s failed: %r', provider, error)
            return _to_login('failed')
        label = self.providers[provider].label
        reason = refusal_reason(identity, self.settings, label)
        if reason is not None:
            log.info('login via %s refused for %s: %s', provider, identity.email or identity.subject, reason)
            self.end(request)
            logout_url = (GITHUB_LOGOUT_URL if provider == GITHUB
                          else await self.provider_logout_url(provider, token.get('id_token', ''), request))
            app.storage.user[REFUSAL_KEY] = {'reason': reason, 'provider': label, 'logout_url': logout_url}
            return RedirectResponse('/login/refused', status_code=303)
        await services().ready()
        profile = {'email': identity.email, 'name': identity.name, 'avatar_url': identity.avatar_url}
        try:
            user = await services().store.upsert_user(identity.provider, identity.subject, **profile)
        except IntegrityError:  # a first login of the same person in two tabs at once: the other one won
            user = await services().store.upsert_user(identity.provider, identity.subject, **profile)
        key = secrets.token_urlsafe(32)
        request.session[LOGIN_KEY] = key
        app.storage.user[AUTH_KEY] = {
            'key': key, 'user_id': user.id, 'provider': provider, 'name': user.name or user.email,
            'email': user.email, 'avatar_url': user.avatar_url, 'id_token': token.get('id_token', ''),
            'expires_at': time.time() + self.settings.session_hours * 3600}
        return RedirectResponse(safe_return_path(started.get('next')), status_code=303)

    async def _oidc_identity(self, client: Any, token: dict[str, Any], iss: str | None) -> Identity:
        metadata = await client.load_server_metadata()
        if iss is not None and iss != metadata.get('issuer'):  # RFC 9207: the answer is from another provider
            raise ValueError(f'the authorization response names issuer {iss!r}')
        claims = token.get('userinfo')  # set by Authlib only from a verified ID token
        if not claims:
            raise ValueError('the provider sent no ID token')
        claims = dict(claims)
        if 'email' not in claims and metadata.get('userinfo_endpoint'):
            extra = await client.userinfo(token=token)
            if extra.get('sub') == claims['sub']:
                claims = {**extra, **claims}
        return oidc_identity(oidc_provider_key(metadata['issuer']), claims)

    async def _github_identity(self, client: Any, token: dict[str, Any]) -> Identity:
        user = await client.get('user', token=token)
        user.raise_for_status()
        emails = await client.get('user/emails', token=token)
        emails.raise_for_status()
        return github_identity(user.json(), emails.json())

    async def provider_logout_url(self, provider: str, id_token: str, request: Request) -> str:
        """Where to end the session at the provider too, so that the next login asks again ('' if nowhere)."""
        if provider not in self.providers or provider == GITHUB:  # GitHub has no end-session endpoint
            return ''
        try:
            metadata = await self.oauth.create_client(provider).load_server_metadata()
        except Exception:
            return ''
        endpoint = metadata.get('end_session_endpoint')
        if not endpoint:
            return ''
        params = {'client_id': self.settings.oidc_client_id,
                  'post_logout_redirect_uri': f'{self.base_url(request)}/login'}
        if id_token:
            params['id_token_hint'] = id_token
        return f'{endpoint}{"&" if "?" in endpoint else "?"}{urlencode(params)}'

    def end(self, request: Request) -> dict[str, Any] | None:
        """End this browser's login; returns what it was."""
        request.session.pop(LOGIN_KEY, None)
        return app.storage.user.pop(AUTH_KEY, None)

    async def logout(self, request: Request) -> Response:
        """A POST from the app's own pages (chatapp/http_security.py refuses any other) logs out; a GET, which
        any link or image can make, only asks."""
        if request.method != 'POST':
            return HTMLResponse(LOGOUT_CONFIRMATION)
        ended = self.end(request)
        url = ''
        if ended:
            topic = login_topic(ended.get('key', ''))
            services().bus.publish(topic, LoggedOut(topic))  # its open pages, on every instance
            url = await self.provider_logout_url(ended.get('provider', ''), ended.get('id_token', ''), request)
        return RedirectResponse(url or '/login?logged_out=1', status_code=303)


class LoginMiddleware(BaseHTTPMiddleware):
    """Every path needs a login except the login itself, NiceGUI's assets and socket, and /healthz."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if _is_open(request.url.path) or current_login(request) is not None:
            return await call_next(request)
        if request.method in ('GET', 'HEAD'):
            target = request.url.path + (f'?{request.url.query}' if request.url.query else '')
            return _to_login(next_path=target)
        return JSONResponse({'detail': 'login required'}, status_code=401)


LOGOUT_CONFIRMATION = Template(assets.text('logout.html')).substitute(primary=theme.PRIMARY)


def _to_login(error: str = '', next_path: str = '') -> RedirectResponse:
    query = {key: value for key, value in (('next', next_path), ('error', error)) if value}
    return RedirectResponse('/login' + (f'?{urlencode(query)}' if query else ''), status_code=303)


_authenticator: Authenticator | None = None


def authenticator() -> Authenticator:
    if _authenticator is None:
        raise RuntimeError('chatapp.auth.setup() has not run')
    return _authenticator


def setup(settings: Settings) -> Authenticator:
    """Register the login routes and, when a provider is configured, require a login for every page."""
    global _authenticator
    _authenticator = current = Authenticator(settings)
    if current.enabled:
        app.add_middleware(LoginMiddleware)  # added before ui.run's session middleware, so it runs inside it

    @app.get('/auth/{provider}/login', include_in_schema=False)
    async def auth_start(request: Request, provider: str) -> Response:
        return await current.start(request, provider)

    @app.get('/auth/{provider}/callback', include_in_schema=False)
    async def auth_callback(request: Request, provider: str) -> Response:
        return await current.callback(request, provider)

    @app.api_route('/logout', methods=['GET', 'POST'], include_in_schema=False)
    async def logout(request: Request) -> Response:
        return await current.logout(request)

    from chatapp.pages import login  # noqa: F401  (registers /login and /login/refused)
    return current
