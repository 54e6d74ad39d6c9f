"""Real servers for the login tests: an OpenID Connect provider (tests/oidc, panva's oidc-provider on
Node), the app itself as `python -m chatapp`, and Debian's chromium driven by Playwright.

Nothing fakes the session: the browser signs in at the provider's own sign-in page, and the app gets
the code, the tokens and the ID token from it over HTTP like from any provider.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from tests.conftest import free_port, wait_for_http
from tests.oidc_provider import (  # noqa: F401  (log_in, sign_in_at_provider: the tests here import them from here)
    OIDCProvider,
    keep_to_loopback,
    log_in,
    require,
    running_oidc_provider,
    sign_in_at_provider,
)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync']


@pytest.fixture(scope='session')
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCProvider]:
    with running_oidc_provider(tmp_path_factory.mktemp('oidc')) as provider:
        yield provider


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
        workdir = tmp_path / f'app-{port}'
        workdir.mkdir()
        env = clean_environment() | {'PYTHONPATH': str(ROOT), 'CHATAPP_DATA_DIR': str(workdir / 'data')}
        env |= oidc_provider.app_settings(url) | settings
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
        keep_to_loopback(context)
        contexts.append(context)
        return context

    yield create
    for context in contexts:
        context.close()
