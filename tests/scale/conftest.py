"""Fixtures for the scaled-out deployment: PostgreSQL, Redis, llmock, two app instances and nginx, all on
loopback, and Debian's Chromium through Playwright (tests/conftest.py: llm_server, browser, oidc_provider).

The cluster is started once per module (start-up costs seconds); each test first makes sure both instances
run and that nginx routes to both again (a test may have killed one). When a test fails, the new lines of
every log (instances, nginx, llmock) are attached to its report and its pages are saved as screenshots.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.support.browser import close_contexts
from tests.support.cluster import Cluster, Instance, migrate, new_context, start_all
from tests.support.databases import (
    POSTGRES_URL,
    exclusive,
    flush_redis,
    fresh_postgres,
    require_postgres,
    require_redis,
    run_async,
)
from tests.support.environment import require
from tests.support.logs import WATCHED, LogFile
from tests.support.net import free_port
from tests.support.nginx import NGINX, Nginx
from tests.support.oidc import OIDCProvider
from tests.support.servers import LLM_TIMEOUT_SECONDS, LLMock

SCALE_DATABASE = 'chatapp_scale'  # a database of its own: other suites reset theirs while these tests run
REDIS_URL = os.environ.get('TEST_SCALE_REDIS_URL', 'redis://127.0.0.1:6379/14')
INSTANCES = 2


def require_servers() -> None:
    """PostgreSQL, Redis, nginx and openssl: skipped outside CI when one is missing, failed in CI."""
    require_postgres()
    require_redis(REDIS_URL)
    require(os.access(NGINX, os.X_OK), f'nginx ({NGINX}; apt-get install nginx)')
    require(shutil.which('openssl') is not None, 'openssl (for the test certificate)')


@pytest.fixture(scope='module')
def cluster_login() -> OIDCProvider | None:
    """The login provider of the module's cluster: none (local mode) unless the test module overrides this."""
    return None


@pytest.fixture(scope='module')
def cluster(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMock,
            cluster_login: OIDCProvider | None) -> Iterator[Cluster]:
    require_servers()
    with exclusive():
        yield from _cluster(tmp_path_factory.mktemp('cluster'), llm_server, cluster_login)


def _cluster(root: Path, llm_server: LLMock, login: OIDCProvider | None = None) -> Iterator[Cluster]:
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
        'CHATAPP_TITLE_MODEL': 'off',  # a title request would take a reply a test scripted
    }
    instances = [Instance(root / f'chatapp-{port}', port, **settings) for port in ports]
    logs = [instance.log for instance in instances]
    logs += [LogFile(f'nginx {path.name}', path) for path in (nginx.error_log, nginx.site_error_log)]
    WATCHED.extend(logs)
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
            WATCHED.remove(log)


@pytest.fixture
def running(cluster: Cluster) -> Cluster:
    cluster.ensure_running()
    return cluster


@pytest.fixture
def pinned(browser: Browser, running: Cluster, request: pytest.FixtureRequest,
           tmp_path: Path) -> Iterator[Callable[[int], Page]]:
    """`pinned(i)` opens a page in a new browser profile pinned to instance i."""
    contexts: list[BrowserContext] = []

    def open_pinned(index: int) -> Page:
        context = new_context(browser, running, running.route(index))
        contexts.append(context)
        return context.new_page()

    try:
        yield open_pinned
    finally:
        close_contexts(contexts, request, tmp_path)


@pytest.fixture
def fresh_context(browser: Browser, running: Cluster, request: pytest.FixtureRequest,
                  tmp_path: Path) -> Iterator[BrowserContext]:
    """A browser profile with no route cookie, as a real browser comes."""
    context = new_context(browser, running)
    try:
        yield context
    finally:
        close_contexts([context], request, tmp_path)
