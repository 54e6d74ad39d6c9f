"""The test OpenID Connect provider (tests/oidc, panva's oidc-provider on Node) and signing in through it in
a real browser; shared by the login tests (tests/auth) and the scaled-out deployment's (tests/scale).

Nothing fakes the session: the browser signs in at the provider's own sign-in page, and the app gets the code,
the tokens and the ID token from it over HTTP like from any provider.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.conftest import IN_CI, free_port, wait_for_http

OIDC_DIR = Path(__file__).resolve().parent / 'oidc'
PASSWORD = 'any password'  # the test provider's sign-in page takes any
LOOPBACK_URLS = ('http://127.0.0.1', 'https://127.0.0.1', 'ws://127.0.0.1', 'wss://127.0.0.1',
                 'http://127.0.0.2')  # tests/other_site.py


def require(available: bool, what: str) -> None:
    """Skip outside CI when a tool is missing, with the reason; under CI=true that is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f'{what} is required under CI=true but is missing')
    pytest.skip(f'{what} is missing here (install it, or run under CI=true to require it)')


@dataclass
class OIDCProvider:
    issuer: str

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
        with urllib.request.urlopen(request, timeout=10) as response:
            client = json.loads(response.read())
        return client['client_id'], client['client_secret']

    def app_settings(self, app_url: str) -> dict[str, str]:
        """The OIDC_* settings of an app opened at `app_url`, with a client registered for it."""
        client_id, client_secret = self.register(app_url)
        return {'OIDC_DISCOVERY_URL': self.discovery_url, 'OIDC_CLIENT_ID': client_id,
                'OIDC_CLIENT_SECRET': client_secret, 'OIDC_NAME': 'Test IdP'}


@contextlib.contextmanager
def running_oidc_provider(folder: Path) -> Iterator[OIDCProvider]:
    """The provider on a free loopback port for as long as the context lasts; its log goes to `folder`."""
    node, npm = shutil.which('node'), shutil.which('npm')
    require(node is not None and npm is not None, 'Node.js with npm (for the test OIDC provider)')
    if not (OIDC_DIR / 'node_modules' / 'oidc-provider').is_dir():
        result = subprocess.run([npm, 'ci', '--no-audit', '--no-fund'], cwd=OIDC_DIR, capture_output=True, text=True,
                                timeout=300)
        if result.returncode != 0:
            pytest.fail(f'npm ci in tests/oidc failed:\n{result.stdout}\n{result.stderr}')
    port = free_port()
    with (folder / 'provider.log').open('w') as log:
        process = subprocess.Popen([node, 'server.mjs', str(port)], cwd=OIDC_DIR, stdout=log,
                                   stderr=subprocess.STDOUT)
        provider = OIDCProvider(f'http://127.0.0.1:{port}')
        try:
            wait_for_http(provider.discovery_url, process=process)
            yield provider
        finally:
            process.terminate()
            process.wait(10)


def keep_to_loopback(context: BrowserContext) -> None:
    """Block everything not on loopback: the provider's sign-in page asks for web fonts."""
    context.route(lambda url: not url.startswith(LOOPBACK_URLS), lambda route: route.abort())


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
