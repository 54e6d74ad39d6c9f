"""Fixtures every kind of test may use: databases (SQLite always, PostgreSQL and Redis when reachable, and always
under CI), llmock, the app and the test OpenID Connect provider as processes on loopback, and Debian's Chromium.
When a test fails, its report shows what each server it used logged meanwhile."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support import oidc
from tests.support.browser import launch, require_chromium
from tests.support.databases import POSTGRES_URL, REDIS_URL, empty_schema, flush_redis, require_postgres, require_redis
from tests.support.environment import require
from tests.support.logs import WATCHED
from tests.support.net import free_port
from tests.support.oidc import OIDCProvider
from tests.support.servers import CHUNK_DELAY_MS, App, LLMock

# --- failure reports ----------------------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    for log in WATCHED:
        log.mark = log.size()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failing test's report shows what each watched server logged while it ran. Each phase's report is kept
    on the test (`rep_call`: fixtures save screenshots of a failed test's pages)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f'rep_{report.when}', report)
    if report.failed:
        for log in WATCHED:
            text = log.text(log.mark)
            if text.strip():
                report.sections.append((f'{log.name} log ({report.when})', text[-20_000:]))


# --- databases ----------------------------------------------------------------------------------------------

@pytest.fixture(params=['sqlite', 'postgresql'])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each supported kind."""
    if request.param == 'sqlite':
        return f'sqlite+aiosqlite:///{tmp_path / "test.db"}'
    require_postgres()
    await empty_schema(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    """A real Redis (a database of its own, emptied before each test)."""
    require_redis()
    flush_redis(REDIS_URL)
    return REDIS_URL


# --- the model ----------------------------------------------------------------------------------------------

@pytest.fixture(scope='session')
def llmock_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMock]:
    """The llmock of the tests that run chatapp's code in their own process: quick, 5 ms between chunks."""
    with LLMock(tmp_path_factory.mktemp('llmock'), chunk_delay_ms=5) as server:
        yield server


@pytest.fixture(scope='module')
def llm_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMock]:
    """The llmock of a module's app processes: one word per chunk, CHUNK_DELAY_MS apart (slow enough to reload,
    stop or kill something while a reply is being written) unless the module sets its own LLM_CHUNK_DELAY_MS."""
    delay = getattr(request.module, 'LLM_CHUNK_DELAY_MS', CHUNK_DELAY_MS)
    with LLMock(tmp_path_factory.mktemp('llmock'), chunk_delay_ms=delay) as server:
        yield server


@pytest.fixture
def llmock(llmock_server: LLMock) -> LLMock:
    return llmock_server.reset()


@pytest.fixture
def llm(llm_server: LLMock) -> LLMock:
    return llm_server.reset()


# --- the app ------------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def app_server(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMock) -> Iterator[App]:
    """One app for the module, on its llmock; tests tell their conversations apart by id."""
    with App(tmp_path_factory.mktemp('chatapp'), llm_server) as app:
        yield app


@pytest.fixture(scope='session')
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCProvider]:
    require(oidc.node_available(), 'Node.js with npm (for the test OIDC provider)')
    oidc.install()
    with OIDCProvider(tmp_path_factory.mktemp('oidc')) as provider:
        yield provider


@pytest.fixture
def start_app(tmp_path: Path, oidc_provider: OIDCProvider) -> Iterator[Callable[..., App]]:
    """`start_app(**settings)` starts an app with the demo model and a login through the test provider; the
    keyword arguments are more settings."""
    with ExitStack() as running:

        def start(**settings: str) -> App:
            port = free_port()
            login = oidc_provider.app_settings(f'http://127.0.0.1:{port}')  # a client for the app's address
            return running.enter_context(App(tmp_path / f'app-{port}', port=port, **(login | settings)))

        yield start


# --- the browser --------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')  # closed after its module: Playwright's sync API holds the event loop
def browser() -> Iterator[Browser]:
    require_chromium()
    with sync_playwright() as playwright:
        chromium = launch(playwright.chromium)
        try:
            yield chromium
        finally:
            chromium.close()
