"""Shared fixtures: databases (SQLite always, PostgreSQL when reachable, and always under CI) and a real
OpenAI-protocol server (llmock) on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest_plugins = ['tests.e2e.servers']  # a failing test's report shows what the servers it used logged

IN_CI = os.environ.get('CI') == 'true'
POSTGRES_URL = os.environ.get('TEST_POSTGRES_URL', 'postgresql+asyncpg://postgres@127.0.0.1:5432/test')
REDIS_URL = os.environ.get('TEST_REDIS_URL', 'redis://127.0.0.1:6379/15')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, timeout: float = 20.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f'{url}: the server exited with {process.returncode}')
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f'{url} did not answer within {timeout} s')


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """For urllib: a redirect is the answer to look at, not one to follow."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def require_service(reachable: bool, what: str) -> None:
    """Skip outside CI when a real server is missing; under CI that is a failure, never a skip."""
    if reachable:
        return
    if IN_CI:
        pytest.fail(f'{what} is required under CI=true but is not reachable')
    pytest.skip(f'{what} is not reachable here (set it up, or run under CI=true to require it)')


def reachable(url: str, default_port: int) -> bool:
    """A TCP connection to the server a database or Redis URL names can be opened."""
    parts = urlsplit(url.replace('+asyncpg', ''))
    try:
        with socket.create_connection((parts.hostname or '127.0.0.1', parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A real Redis (a database of its own, emptied before each test)."""
    require_service(reachable(REDIS_URL, 6379), 'Redis (TEST_REDIS_URL)')
    import redis.asyncio as redis
    client = redis.from_url(REDIS_URL)
    await client.flushdb()
    await client.aclose()
    yield REDIS_URL


@pytest.fixture(params=['sqlite', 'postgresql'])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each supported kind."""
    if request.param == 'sqlite':
        yield f'sqlite+aiosqlite:///{tmp_path / "test.db"}'
        return
    require_service(reachable(POSTGRES_URL, 5432), 'PostgreSQL (TEST_POSTGRES_URL)')
    await reset_postgres()
    yield POSTGRES_URL


async def reset_postgres() -> None:
    """Drop everything in the test database's public schema: each test starts from an empty database."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    engine = create_async_engine(POSTGRES_URL)
    async with engine.begin() as connection:
        await connection.execute(text('DROP SCHEMA public CASCADE'))
        await connection.execute(text('CREATE SCHEMA public'))
    await engine.dispose()


class LLMock:
    """A running llmock server: a real OpenAI-protocol endpoint whose next replies and faults we script."""

    def __init__(self, port: int) -> None:
        self.base_url = f'http://127.0.0.1:{port}'

    def script(self, *behaviors: dict) -> None:
        self._post('/_llmock/scenario', {'behaviors': list(behaviors)})

    def reply(self, text: str) -> None:
        self.script({'type': 'reply', 'text': text})

    def reset(self) -> None:
        self._post('/_llmock/reset', {})

    def pending(self) -> list[dict]:
        """Scripted behaviours not used yet."""
        with urllib.request.urlopen(self.base_url + '/_llmock/scenario', timeout=5) as response:
            return json.loads(response.read())['pending']

    def requests(self) -> list[dict]:
        with urllib.request.urlopen(self.base_url + '/_llmock/requests', timeout=5) as response:
            data = json.loads(response.read())
        return data.get('requests', data) if isinstance(data, dict) else data

    def _post(self, path: str, body: dict) -> None:
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(), method='POST',
                                         headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, timeout=5):
            pass


@pytest.fixture(scope='session')
def llmock_server() -> Iterator[LLMock]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, '-c', 'from llmock.cli import app; app()', 'serve', '--host', '127.0.0.1',
         '--port', str(port), '--stream-chunk-delay-ms', '5', '--log-level', 'warning'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f'http://127.0.0.1:{port}/health', process=process)
        yield LLMock(port)
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def llmock(llmock_server: LLMock) -> LLMock:
    llmock_server.reset()
    return llmock_server
