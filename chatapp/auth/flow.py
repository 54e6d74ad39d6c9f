"""Logging in through an OpenID Connect provider or GitHub: the routes of the flow and the middleware that
makes every page need a login once a provider is configured.

Authlib's Starlette client on NiceGUI's own session (the signed cookie that `storage_secret` sets up, no
second session middleware): authorization code with state, nonce and PKCE; the ID token is verified
(signature, issuer, audience, expiry, nonce).
"""

from __future__ import annotations

import logging
from string import Template
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.starlette_client import OAuth
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from chatapp import assets, theme
from chatapp.auth.logins import Logins
from chatapp.auth.rules import (
    GITHUB,
    GITHUB_LOGOUT_URL,
    OIDC,
    Identity,
    github_identity,
    is_open,
    oidc_identity,
    oidc_provider_key,
    refusal_reason,
    safe_return_path,
)
from chatapp.services import Services

log = logging.getLogger(__name__)

LOGOUT_CONFIRMATION = Template(assets.text('logout.html')).substitute(primary=theme.PRIMARY)


class OAuthFlow:
    """The login flow at the configured providers."""

    def __init__(self, services: Services, logins: Logins) -> None:
        self.services = services
        self.settings = settings = services.settings
        self.logins = logins
        self.providers = logins.providers
        self.oauth = OAuth()
        if settings.oidc_discovery_url:
            self.oauth.register(OIDC, client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret,
                                server_metadata_url=settings.oidc_discovery_url,
                                client_kwargs={'scope': settings.oidc_scopes, 'code_challenge_method': 'S256',
                                               'timeout': 15})
        if settings.github_client_id:
            self.oauth.register(GITHUB, client_id=settings.github_client_id,
                                client_secret=settings.github_client_secret,
                                authorize_url='https://github.com/login/oauth/authorize',
                                access_token_url='https://github.com/login/oauth/access_token',
                                api_base_url='https://api.github.com/',
                                client_kwargs={'scope': 'read:user user:email', 'code_challenge_method': 'S256',
                                               'timeout': 15})

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
        self.logins.forget_refusal()
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
            self.logins.end(request)
            logout_url = (GITHUB_LOGOUT_URL if provider == GITHUB
                          else await self.provider_logout_url(provider, token.get('id_token', ''), request))
            self.logins.refuse(reason, label, logout_url)
            return RedirectResponse('/login/refused', status_code=303)
        await self.services.ready()
        profile = {'email': identity.email, 'name': identity.name, 'avatar_url': identity.avatar_url}
        try:
            user = await self.services.store.upsert_user(identity.provider, identity.subject, **profile)
        except IntegrityError:  # a first login of the same person in two tabs at once: the other one won
            user = await self.services.store.upsert_user(identity.provider, identity.subject, **profile)
        self.logins.begin(request, user, provider, token.get('id_token', ''))
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

    async def logout(self, request: Request) -> Response:
        """A POST from the app's own pages (chatapp/http_security.py refuses any other) logs out; a GET, which
        any link or image can make, only asks."""
        if request.method != 'POST':
            return HTMLResponse(LOGOUT_CONFIRMATION)
        ended = self.logins.log_out(request)
        url = ''
        if ended:
            url = await self.provider_logout_url(ended.get('provider', ''), ended.get('id_token', ''), request)
        return RedirectResponse(url or '/login?logged_out=1', status_code=303)


class LoginMiddleware(BaseHTTPMiddleware):
    """Every path needs a login except the login itself, NiceGUI's assets and socket, and /healthz."""

    def __init__(self, app: Any, logins: Logins) -> None:
        super().__init__(app)
        self.logins = logins

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        public_links = self.logins.services.settings.public_links
        if is_open(request.url.path, public_links=public_links) or self.logins.current(request) is not None:
            return await call_next(request)
        if request.method in ('GET', 'HEAD'):
            target = request.url.path + (f'?{request.url.query}' if request.url.query else '')
            return _to_login(next_path=target)
        return JSONResponse({'detail': 'login required'}, status_code=401)


def _to_login(error: str = '', next_path: str = '') -> RedirectResponse:
    query = {key: value for key, value in (('next', next_path), ('error', error)) if value}
    return RedirectResponse('/login' + (f'?{urlencode(query)}' if query else ''), status_code=303)


def add_routes(app: FastAPI, flow: OAuthFlow) -> None:
    """The routes of the flow, and the login every other path needs when a provider is configured."""
    if flow.providers:
        app.add_middleware(LoginMiddleware, logins=flow.logins)  # added before ui.run's session middleware,
                                                                  # so it runs inside it

    @app.get('/auth/{provider}/login', include_in_schema=False)
    async def auth_start(request: Request, provider: str) -> Response:
        return await flow.start(request, provider)

    @app.get('/auth/{provider}/callback', include_in_schema=False)
    async def auth_callback(request: Request, provider: str) -> Response:
        return await flow.callback(request, provider)

    @app.api_route('/logout', methods=['GET', 'POST'], include_in_schema=False)
    async def logout(request: Request) -> Response:
        return await flow.logout(request)
