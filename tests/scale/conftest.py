"""Fixtures for the scaled-out deployment: PostgreSQL, Redis, llmock, two app instances and nginx, all on
loopback, and Debian's Chromium through Playwright.

The cluster is started once per module (start-up costs seconds); each test first makes sure both instances
run and that nginx routes to both again (a test may have killed one). When a test fails, the new lines of
every log (instances, nginx, llmock) are attached to its report and its pages are saved as screenshots.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, reachable, require_service
from tests.e2e.servers import CHUNK_DELAY_MS, LLM, LLM_TIMEOUT_SECONDS, stop_process, wait_for_http
from tests.e2e.servers import LogFile as _LogFile
from tests.oidc_provider import OIDCProvider, running_oidc_provider
from tests.scale.cluster import (
    NGINX,
    ROUTE_COOKIE,
    Instance,
    Nginx,
    flush_redis,
    free_port,
    fresh_postgres,
    migrate,
    start_all,
)

SCALE_DATABASE = 'chatapp_scale'  # a database of its own: other suites reset theirs while these tests run
REDIS_URL = os.environ.get('TEST_SCALE_REDIS_URL', 'redis://127.0.0.1:6379/14')
CHROMIUM = '/usr/bin/chromium'
BROWSER_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync']
INSTANCES = 2
LOCK = Path(tempfile.gettempdir()) / 'chatapp-scale-tests.lock'
LOCK_WAIT_SECONDS = 600

LOGS: list[_LogFile] = []  # whose new lines a failing test's report shows


def run_async(coroutine):
    """Run a coroutine to the end from sync code, beside Playwright's own loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def require_servers() -> None:
    """PostgreSQL, Redis, nginx, openssl and Chromium: skipped outside CI when one is missing, failed in CI."""
    require_service(reachable(POSTGRES_URL, 5432), 'PostgreSQL (TEST_POSTGRES_URL)')
    require_service(reachable(REDIS_URL, 6379), 'Redis (TEST_SCALE_REDIS_URL)')
    require_service(os.access(NGINX, os.X_OK), f'nginx ({NGINX}; apt-get install nginx)')
    require_service(shutil.which('openssl') is not None, 'openssl (for the test certificate)')


@contextlib.contextmanager
def exclusive(path: Path = LOCK, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """One run of these tests at a time on this machine: they share a database, a Redis database and
    the machine's cores, and a second run would reset the first one's database under it."""
    with path.open('a') as lock:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f'another run of tests/scale held {path} for more than {wait:g} s')
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- the processes ---------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLM]:
    """llmock streaming one word per chunk, CHUNK_DELAY_MS apart (slow enough to kill an instance mid-reply)."""
    root = tmp_path_factory.mktemp('llmock')
    port = free_port()
    log = _LogFile('llmock', root / 'llmock.log')
    with log.path.open('ab') as out:
        process = subprocess.Popen(
            [sys.executable, '-c', 'from llmock.cli import app; app()', 'serve', '--host', '127.0.0.1',
             '--port', str(port), '--stream-chunk-delay-ms', str(CHUNK_DELAY_MS), '--log-level', 'warning'],
            cwd=root, stdout=out, stderr=subprocess.STDOUT)
    LOGS.append(log)
    try:
        wait_for_http(f'http://127.0.0.1:{port}/health', process, log)
        yield LLM(port)
    finally:
        stop_process(process)
        LOGS.remove(log)


@pytest.fixture
def llm(llm_server: LLM) -> LLM:
    llm_server.reset()
    return llm_server


@dataclass
class Cluster:
    instances: list[Instance]
    nginx: Nginx
    database_url: str
    routes: dict[int, str] = field(default_factory=dict)  # instance port -> a route cookie nginx sends there
    log_mark: int = 0  # access log lines before the current test's own requests

    def ensure_running(self) -> None:
        """Restart whatever instance a test stopped, and wait until nginx routes to every instance again."""
        stopped = [instance for instance in self.instances if not instance.alive()]
        for instance in stopped:
            instance.launch()
        for instance in stopped:
            instance.wait_ready()
        for instance in self.instances:
            self.routes[instance.port] = self.nginx.route_to(instance.port)
        self.log_mark = len(self.nginx.access_lines())

    @property
    def url(self) -> str:
        """What people open: nginx."""
        return self.nginx.base_url

    def route(self, index: int) -> str:
        return self.routes[self.instances[index].port]


@pytest.fixture(scope='module')
def cluster_login() -> OIDCProvider | None:
    """The login provider of the module's cluster: none (local mode) unless the test module overrides this."""
    return None


@pytest.fixture(scope='module')
def cluster(tmp_path_factory: pytest.TempPathFactory, llm_server: LLM,
            cluster_login: OIDCProvider | None) -> Iterator[Cluster]:
    require_servers()
    with exclusive():
        yield from _cluster(tmp_path_factory.mktemp('cluster'), llm_server, cluster_login)


def _cluster(root: Path, llm_server: LLM, login: OIDCProvider | None = None) -> Iterator[Cluster]:
    database_url = run_async(fresh_postgres(POSTGRES_URL, SCALE_DATABASE))
    flush_redis(REDIS_URL)
    ports = [free_port() for _ in range(INSTANCES)]
    nginx = Nginx(root / 'nginx', ports)
    login_settings = login.app_settings(nginx.base_url) if login is not None else {}
    settings = login_settings | {
        'DATABASE_URL': database_url,
        'REDIS_URL': REDIS_URL,
        'CHATAPP_STORAGE_SECRET': secrets.token_urlsafe(48),  # one secret, every instance
        'CHATAPP_PUBLIC_URL': nginx.base_url,
        'OPENAI_BASE_URL': f'{llm_server.base_url}/v1',
        'OPENAI_API_KEY': 'test',
        'CHATAPP_LLM_MAX_RETRIES': '0',
        'CHATAPP_LLM_TIMEOUT': str(LLM_TIMEOUT_SECONDS),
    }
    instances = [Instance(root / f'chatapp-{port}', port, **settings) for port in ports]
    logs = [_LogFile(instance.name, instance.log_path) for instance in instances]
    logs += [_LogFile(f'nginx {path.name}', path) for path in (nginx.error_log, nginx.site_error_log)]
    LOGS.extend(logs)
    try:
        migrate(instances[0].env, root)  # once, before the instances start (docs/deploy.md)
        start_all(instances)
        nginx.start()
        yield Cluster(instances, nginx, database_url)
    finally:
        nginx.stop()
        for instance in instances:
            instance.stop(hard=True)
        for log in logs:
            LOGS.remove(log)


@pytest.fixture
def running(cluster: Cluster) -> Cluster:
    cluster.ensure_running()
    return cluster


@pytest.fixture(scope='session')
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCProvider]:
    """The test OpenID Connect provider, for a module whose cluster has a login (see cluster_login)."""
    with running_oidc_provider(tmp_path_factory.mktemp('oidc')) as provider:
        yield provider


def served_only_by(cluster: Cluster, index: int) -> None:
    """Every request of the profile pinned to instance `index` (pages, assets, socket.io) went there.
    nginx logs a WebSocket when it closes: close the profile's pages first."""
    route, port = cluster.route(index), str(cluster.instances[index].port)
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in cluster.nginx.access_lines()[cluster.log_mark:] if line['route'] == route]
        if any(line['request'].startswith('GET /_nicegui_ws/socket.io/') and line['status'] == '101'
               for line in lines):
            break
        assert time.monotonic() < deadline, f'no WebSocket through nginx with route {route}: {lines}'
        time.sleep(0.1)
    assert {line['upstream'] for line in lines} == {port}, lines


# --- the browser -----------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def browser() -> Iterator:
    require_service(os.path.exists(CHROMIUM), f'Chromium ({CHROMIUM}; bash tests/run installs it)')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser, cluster: Cluster, route: str | None = None):
    """A browser profile opening the app through nginx; with `route`, its route cookie is set beforehand,
    which pins it to the instance that key hashes to (a real browser gets a random one from nginx)."""
    context = browser.new_context(base_url=cluster.nginx.base_url, ignore_https_errors=True,
                                  viewport={'width': 1280, 'height': 900})
    context.set_default_timeout(15_000)
    context.set_default_navigation_timeout(30_000)
    if route is not None:
        set_route(context, cluster, route)
    return context


def set_route(context, cluster: Cluster, route: str) -> None:
    """Give the browser profile this route cookie (replacing the one it has): nginx sends its next requests to
    the instance that key hashes to. Pages already connected keep their WebSocket to the instance they have."""
    context.add_cookies([{'name': ROUTE_COOKIE, 'value': route, 'url': cluster.nginx.base_url,
                          'secure': True, 'httpOnly': True, 'sameSite': 'Lax'}])


@pytest.fixture
def pinned(browser, running: Cluster, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable]:
    """`pinned(i)` opens a page in a new browser profile pinned to instance i."""
    contexts = []

    def open_pinned(index: int):
        context = new_context(browser, running, running.route(index))
        contexts.append(context)
        return context.new_page()

    try:
        yield open_pinned
    finally:
        close_contexts(contexts, request, tmp_path)


@pytest.fixture
def fresh_context(browser, running: Cluster, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """A browser profile with no route cookie, as a real browser comes."""
    context = new_context(browser, running)
    try:
        yield context
    finally:
        close_contexts([context], request, tmp_path)


def close_contexts(contexts: list, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    report = getattr(request.node, 'rep_call', None)
    for number, context in enumerate(contexts):
        if report is not None and report.failed:
            for page_number, page in enumerate(context.pages):
                with contextlib.suppress(Exception):  # the page may be gone; the screenshot is a courtesy
                    page.screenshot(path=str(tmp_path / f'context{number}-page{page_number}.png'), full_page=True)
        with contextlib.suppress(Exception):
            context.close()

