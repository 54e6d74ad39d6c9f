"""PostgreSQL and Redis for the tests: where they are, emptying them, and one run at a time where several would
share a database."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import os
import socket
import tempfile
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from tests.support.environment import require

POSTGRES_URL = os.environ.get('TEST_POSTGRES_URL', 'postgresql+asyncpg://postgres@127.0.0.1:5432/test')
REDIS_URL = os.environ.get('TEST_REDIS_URL', 'redis://127.0.0.1:6379/15')
LOCK = Path(tempfile.gettempdir()) / 'chatapp-scale-tests.lock'
LOCK_WAIT_SECONDS = 600
T = TypeVar('T')


def reachable(url: str, default_port: int) -> bool:
    """A TCP connection to the server a database or Redis URL names can be opened."""
    parts = urlsplit(url.replace('+asyncpg', ''))
    try:
        with socket.create_connection((parts.hostname or '127.0.0.1', parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    require(reachable(POSTGRES_URL, 5432), 'PostgreSQL (TEST_POSTGRES_URL)')


def require_redis(url: str = REDIS_URL) -> None:
    require(reachable(url, 6379), f'Redis ({url})')


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq (asyncpg, pg_dump) spells it."""
    from sqlalchemy.engine import make_url
    return make_url(url).set(drivername='postgresql').render_as_string(hide_password=False)


async def empty_schema(url: str) -> None:
    """Drop everything in the database's public schema: what uses it starts from an empty database."""
    import asyncpg
    connection = await asyncpg.connect(libpq_url(url))
    try:
        await connection.execute('DROP SCHEMA public CASCADE; CREATE SCHEMA public')
    finally:
        await connection.close()


async def fresh_postgres(base_url: str, name: str) -> str:
    """A database of our own beside `base_url`'s (created once, so that other suites emptying that one cannot
    pull it away from under running instances), with an empty public schema. Falls back to `base_url` itself
    when the role may not create databases."""
    import asyncpg
    from sqlalchemy.engine import make_url
    connection = await asyncpg.connect(libpq_url(base_url))
    try:
        if not await connection.fetchval('SELECT 1 FROM pg_database WHERE datname = $1', name):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await connection.execute(f'CREATE DATABASE "{name}"')
        target = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    except asyncpg.InsufficientPrivilegeError:
        target = base_url
    finally:
        await connection.close()
    await empty_schema(target)
    return target


async def fetch(database_url: str, query: str, *args: object) -> list[dict]:
    import asyncpg
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        return [dict(row) for row in await connection.fetch(query, *args)]
    finally:
        await connection.close()


def flush_redis(url: str) -> None:
    import redis
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from sync code, beside the event loop Playwright's sync API holds."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@contextlib.contextmanager
def exclusive(path: Path = LOCK, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """One run at a time on this machine of what uses databases of fixed names (the scaled-out deployment, the
    backups): a second run would empty the first one's database under it."""
    with path.open('a') as lock:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f'another run held {path} for more than {wait:g} s') from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
