"""The async database engine: one per process, SQLite (WAL) by default, PostgreSQL when configured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from chatapp import models  # noqa: F401  (registers the tables on SQLModel.metadata)

SQLITE_BUSY_TIMEOUT_MS = 5000


class Database:
    """Owns the engine and hands out sessions; nothing else creates connections."""

    def __init__(self, url: URL | str) -> None:
        self.engine: AsyncEngine = _create_engine(url)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def create_schema(self) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)

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


def _create_engine(url: URL | str) -> AsyncEngine:
    engine = create_async_engine(url)
    if engine.dialect.name == 'sqlite':
        event.listen(engine.sync_engine, 'connect', _tune_sqlite)
    return engine


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on while a reply is being saved; the busy timeout waits instead of failing
    cursor = dbapi_connection.cursor()
    cursor.execute('PRAGMA journal_mode=WAL')
    cursor.execute(f'PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}')
    cursor.execute('PRAGMA foreign_keys=ON')
    cursor.execute('PRAGMA synchronous=NORMAL')
    cursor.close()
