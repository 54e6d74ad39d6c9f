"""The services of one app process, created once at start-up; pages reach them through `services()`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from chatapp.db import Database
from chatapp.events import EventBus
from chatapp.generation import Generations
from chatapp.llm import create_chat_model, model_label
from chatapp.models import User
from chatapp.settings import Settings
from chatapp.store import ConversationStore

log = logging.getLogger(__name__)

LOCAL_PROVIDER = 'local'


@dataclass
class Services:
    settings: Settings
    database: Database
    store: ConversationStore
    bus: EventBus
    generations: Generations
    local_user: User | None = None
    _started: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        database = Database(settings.database_url, pool_size=settings.db_pool_size,
                            pool_timeout=settings.db_pool_timeout)
        bus = EventBus()
        store = ConversationStore(database, bus)
        generations = Generations(store, bus, settings, create_chat_model(settings), model_label(settings))
        return cls(settings, database, store, bus, generations)

    async def start(self) -> None:
        await self.database.prepare_schema()
        await self.generations.interrupt_orphans(alone=True)
        self.local_user = await self.store.upsert_user(LOCAL_PROVIDER, 'local', name='Local user')
        self._started.set()

    async def ready(self) -> None:
        """Wait for start-up: NiceGUI runs async start-up handlers as tasks, so a request may come first."""
        await self._started.wait()

    async def stop(self) -> None:
        await self.generations.shutdown(grace=self.settings.shutdown_grace)
        await self.database.close()


_services: Services | None = None


def install(services: Services) -> None:
    global _services
    _services = services


def services() -> Services:
    if _services is None:
        raise RuntimeError('chatapp services are not installed; start the app with python -m chatapp')
    return _services
