"""The async database engine: one per process, SQLite (WAL) by default, PostgreSQL when configured."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from chatapp import migrations
from chatapp.migrations import SchemaState

SQLITE_BUSY_TIMEOUT_MS = 20_000  # under load a writer waits its turn; SQLite has one writer at a time


class SchemaError(Exception):
    """The database's schema does not match this version of chatapp; the message says what to do."""


class Database:
    """Owns the engine and hands out sessions; nothing else creates connections."""

    def __init__(self, url: URL | str, *, pool_size: int = 10, pool_timeout: float = 30.0) -> None:
        self.engine: AsyncEngine = _create_engine(url, pool_size, pool_timeout)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._one_writer = self.engine.dialect.name == 'sqlite'
        self._write_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = \
            weakref.WeakKeyDictionary()  # a lock belongs to one event loop (tests run several)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session for a transaction that writes. SQLite has one writer at a time: this process's writers
        take turns here, first come first served, instead of polling SQLite's lock with growing sleeps
        (20 replies starting at once waited up to a second for their first token that way)."""
        if not self._one_writer:
            async with self.session() as session:
                yield session
            return
        turn = self._write_turns.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        # the turn ends with the transaction: handing the connection back to the pool (a rollback, one
        # more trip to the driver's thread) happens after the next writer has begun
        async with self.session() as session, turn:
            yield session

    async def prepare_schema(self) -> None:
        """Create the schema in a new database; refuse one that is behind (or ahead of) this version."""
        state = await migrations.schema_state(self.engine)
        if state == SchemaState.EMPTY:
            await migrations.upgrade(self.engine)
        elif state == SchemaState.BEHIND:
            raise SchemaError('the database schema is older than this version of chatapp; '
                              'run `python -m chatapp migrate` to upgrade it')
        elif state == SchemaState.UNKNOWN:
            raise SchemaError('the database was written by a newer version of chatapp')

    async def migrate(self) -> None:
        await migrations.upgrade(self.engine)

    async def ping(self, timeout: float = 2.0) -> bool:
        """True when the database answers a trivial query in time."""
        try:
            async with asyncio.timeout(timeout), self.engine.connect() as connection:
                await connection.execute(text('SELECT 1'))
            return True
        except Exception:
            return False

    async def close(self) -> None:
        await self.engine.dispose()


def _create_engine(url: URL | str, pool_size: int, pool_timeout: float) -> AsyncEngine:
    if str(url).startswith('sqlite'):
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, 'connect', _tune_sqlite)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=pool_timeout,
                               pool_pre_ping=True)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on while a reply is being saved; the busy timeout waits instead of failing
    cursor = dbapi_connection.cursor()
    cursor.execute('PRAGMA journal_mode=WAL')
    cursor.execute(f'PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}')
    cursor.execute('PRAGMA foreign_keys=ON')
    cursor.execute('PRAGMA synchronous=NORMAL')
    cursor.close()
