"""The test OpenID Connect provider (tests/oidc, panva's oidc-provider on Node.js) and signing in through it.

Nothing fakes the session: the browser signs in at the provider's own sign-in page, and the app gets the code,
the tokens and the ID token from it over HTTP like from any provider.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from playwright.async_api import BrowserContext as AsyncBrowserContext
from playwright.sync_api import BrowserContext, Page

from tests.support import ROOT
from tests.support.net import free_port, loopback_opener
from tests.support.processes import Process

OIDC_DIR = ROOT / 'tests' / 'oidc'
PASSWORD = 'any password'  # the test provider's sign-in page takes any
LOOPBACK_URLS = ('http://127.0.0.1', 'https://127.0.0.1', 'ws://127.0.0.1', 'wss://127.0.0.1',
                 'http://127.0.0.2')  # other_site.py


def node_available() -> bool:
    return shutil.which('node') is not None and shutil.which('npm') is not None


def install() -> None:
    """The provider's npm packages, if they are not there yet."""
    if (OIDC_DIR / 'node_modules' / 'oidc-provider').is_dir():
        return
    result = subprocess.run([shutil.which('npm') or 'npm', 'ci', '--no-audit', '--no-fund'], cwd=OIDC_DIR,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f'npm ci in tests/oidc failed:\n{result.stdout}\n{result.stderr}')


class OIDCProvider(Process):
    """The provider on a free loopback port; its log goes to `folder`."""

    def __init__(self, folder: Path) -> None:
        port = free_port()
        self.issuer = f'http://127.0.0.1:{port}'
        super().__init__('oidc provider', [shutil.which('node') or 'node', 'server.mjs', str(port)], cwd=OIDC_DIR,
                         log_path=folder / 'provider.log', health_url=self.discovery_url)

    @property
    def discovery_url(self) -> str:
        return f'{self.issuer}/.well-known/openid-configuration'

    def register(self, app_url: str) -> tuple[str, str]:
        """Dynamic client registration: a client for one app, with its callback and post-logout URIs."""
        body = {'redirect_uris': [f'{app_url}/auth/oidc/callback'],
                'post_logout_redirect_uris': [f'{app_url}/login'],
                'response_types': ['code'], 'grant_types': ['authorization_code'],
                'token_endpoint_auth_method': 'client_secret_basic'}
        request = urllib.request.Request(f'{self.issuer}/reg', data=json.dumps(body).encode(), method='POST',
                                         headers={'Content-Type': 'application/json'})
        with loopback_opener().open(request, timeout=10) as response:
            client = json.loads(response.read())
        return client['client_id'], client['client_secret']

    def app_settings(self, app_url: str) -> dict[str, str]:
        """The OIDC_* settings of an app opened at `app_url`, with a client registered for it."""
        client_id, client_secret = self.register(app_url)
        return {'OIDC_DISCOVERY_URL': self.discovery_url, 'OIDC_CLIENT_ID': client_id,
                'OIDC_CLIENT_SECRET': client_secret, 'OIDC_NAME': 'Test IdP'}


def keep_to_loopback(context: BrowserContext | AsyncBrowserContext) -> Any:
    """Block everything not on loopback: the provider's sign-in page asks for web fonts. (With Playwright's async
    API, await what this returns.)"""
    return context.route(lambda url: not url.startswith(LOOPBACK_URLS), lambda route: route.abort())


class App(Protocol):
    @property
    def url(self) -> str:
        """The base URL people open."""
        ...


def sign_in_at_provider(page: Page, login: str) -> None:
    """On the provider's own Sign-in page: the login name picks the identity."""
    page.wait_for_selector('input[name=login]')
    page.fill('input[name=login]', login)
    page.fill('input[name=password]', PASSWORD)
    page.click('button[type=submit]')


def log_in(page: Page, app: App, login: str, path: str = '/') -> None:
    """Open `path` logged out, go through /login and the provider, and arrive back at `path`."""
    page.goto(app.url + path)
    page.click('[data-testid=login-oidc]')
    sign_in_at_provider(page, login)
    page.wait_for_url(app.url + path)
