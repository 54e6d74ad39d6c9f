"""Real servers for the login tests: an OpenID Connect provider (tests/oidc, panva's oidc-provider on
Node), the app itself as `python -m chatapp`, and Debian's chromium driven by Playwright.

Nothing fakes the session: the browser signs in at the provider's own sign-in page, and the app gets
the code, the tokens and the ID token from it over HTTP like from any provider.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.conftest import IN_CI, free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
OIDC_DIR = ROOT / 'tests' / 'oidc'
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync']
PASSWORD = 'any password'  # the test provider's sign-in page takes any


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


@pytest.fixture(scope='session')
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCProvider]:
    node, npm = shutil.which('node'), shutil.which('npm')
    require(node is not None and npm is not None, 'Node.js with npm (for the test OIDC provider)')
    if not (OIDC_DIR / 'node_modules' / 'oidc-provider').is_dir():
        result = subprocess.run([npm, 'ci', '--no-audit', '--no-fund'], cwd=OIDC_DIR, capture_output=True, text=True,
                                timeout=300)
        if result.returncode != 0:
            pytest.fail(f'npm ci in tests/oidc failed:\n{result.stdout}\n{result.stderr}')
    port = free_port()
    log = (tmp_path_factory.mktemp('oidc') / 'provider.log').open('w')
    process = subprocess.Popen([node, 'server.mjs', str(port)], cwd=OIDC_DIR, stdout=log, stderr=subprocess.STDOUT)
    provider = OIDCProvider(f'http://127.0.0.1:{port}')
    try:
        wait_for_http(provider.discovery_url, process=process)
        yield provider
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@dataclass
class RunningApp:
    url: str
    data_dir: Path
    log_path: Path

    def users(self) -> list[dict]:
        """The users table as stored (read straight from the app's SQLite file)."""
        import sqlite3
        with sqlite3.connect(self.data_dir / 'chatapp.db') as connection:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute('SELECT * FROM user ORDER BY created_at')]

    def log(self) -> str:
        return self.log_path.read_text()


def clean_environment() -> dict[str, str]:
    prefixes = ('CHATAPP_', 'OPENAI_', 'DATABASE_', 'OIDC_', 'GITHUB_', 'NICEGUI_', 'PYTEST_')  # a clean app
    return {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}


@pytest.fixture
def start_app(tmp_path: Path, oidc_provider: OIDCProvider) -> Iterator[Callable[..., RunningApp]]:
    """Start `python -m chatapp` with a login through the test provider; keyword arguments add settings."""
    processes: list[subprocess.Popen] = []

    def start(**settings: str) -> RunningApp:
        port = free_port()
        url = f'http://127.0.0.1:{port}'
        client_id, client_secret = oidc_provider.register(url)
        workdir = tmp_path / f'app-{port}'
        workdir.mkdir()
        env = clean_environment() | {
            'PYTHONPATH': str(ROOT), 'CHATAPP_DATA_DIR': str(workdir / 'data'),
            'OIDC_DISCOVERY_URL': oidc_provider.discovery_url, 'OIDC_CLIENT_ID': client_id,
            'OIDC_CLIENT_SECRET': client_secret, 'OIDC_NAME': 'Test IdP'} | settings
        log_path = workdir / 'app.log'
        with log_path.open('w') as log:
            process = subprocess.Popen([sys.executable, '-m', 'chatapp', '--host', '127.0.0.1', '--port', str(port)],
                                       cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        wait_for_http(f'{url}/healthz', timeout=60, process=process)
        return RunningApp(url, workdir / 'data', log_path)

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope='module')  # closed after its module: Playwright's sync API holds the event loop
def browser() -> Iterator[Browser]:
    require(os.path.exists(CHROMIUM), f'Debian chromium at {CHROMIUM}')
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[[], BrowserContext]]:
    """Fresh browser profiles (one per person); anything not on loopback is blocked (the provider's
    sign-in page asks for web fonts)."""
    contexts = []

    def create() -> BrowserContext:
        context = browser.new_context(viewport={'width': 1280, 'height': 800})
        context.set_default_timeout(20_000)
        context.route(lambda url: not url.startswith(('http://127.0.0.1', 'ws://127.0.0.1')),
                      lambda route: route.abort())
        contexts.append(context)
        return context

    yield create
    for context in contexts:
        context.close()


def sign_in_at_provider(page: Page, login: str) -> None:
    """On the provider's own Sign-in page: the login name picks the identity."""
    page.wait_for_selector('input[name=login]')
    page.fill('input[name=login]', login)
    page.fill('input[name=password]', PASSWORD)
    page.click('button[type=submit]')


def log_in(page: Page, app: RunningApp, login: str, path: str = '/') -> None:
    """Open `path` logged out, go through /login and the provider, and arrive back at `path`."""
    page.goto(app.url + path)
    page.click('[data-testid=login-oidc]')
    sign_in_at_provider(page, login)
    page.wait_for_url(app.url + path)
