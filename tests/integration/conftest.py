"""The store on each kind of database (tests/conftest.py: database_url)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatapp.db import Database
from chatapp.events import EventBus
from chatapp.store import ConversationStore


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[ConversationStore]:
    database = Database(database_url)
    await database.prepare_schema()
    yield ConversationStore(database, EventBus())
    await database.close()
