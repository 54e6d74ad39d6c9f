"""The services of one app process: created once by the app's composition root (app.py) and handed on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from dataclasses import dataclass, field

from chatapp.db import Database
from chatapp.engine import ReplyEngine
from chatapp.events import EventBus
from chatapp.llm.catalog import ModelCatalog
from chatapp.llm.config import load_models_config
from chatapp.models import User
from chatapp.presets import Presets
from chatapp.rate_limit import SendLimit
from chatapp.render_worker import renderer
from chatapp.settings import Settings
from chatapp.store import LEASE_SECONDS, ConversationStore

log = logging.getLogger(__name__)

LOCAL_PROVIDER = 'local'


@dataclass
class Services:
    settings: Settings
    database: Database
    store: ConversationStore
    bus: EventBus
    engine: ReplyEngine
    catalog: ModelCatalog
    presets: Presets
    local_user: User | None = None
    _started: asyncio.Event = field(default_factory=asyncio.Event)
    _sweeper: asyncio.Task | None = None

    @classmethod
    def create(cls, settings: Settings) -> Services:
        """Raises ConfigError when the models file or a model client is bad: the app stops before it serves."""
        models = load_models_config(settings)
        catalog = ModelCatalog(models, settings)
        instance_id = uuid.uuid4().hex  # names this process in reply claims and on the bus
        database = Database(settings.database_url, pool_size=settings.db_pool_size,
                            pool_timeout=settings.db_pool_timeout)
        if settings.redis_url:
            from chatapp.redis_bus import RedisEventBus  # only a scaled-out deployment needs redis
            bus: EventBus = RedisEventBus(settings.redis_url, instance_id)
        else:
            bus = EventBus()
        store = ConversationStore(database, bus)
        send_limit = SendLimit(settings.sends_per_minute, store.sent_since, settings.redis_url)
        engine = ReplyEngine(store, bus, settings, catalog, instance_id=instance_id, send_limit=send_limit)
        return cls(settings, database, store, bus, engine, catalog, Presets(database, models.presets))

    @property
    def scaled_out(self) -> bool:
        """Several instances share the database (REDIS_URL is how they find each other)."""
        return bool(self.settings.redis_url)

    async def start(self) -> None:
        try:
            await self._start()
        except Exception:
            # NiceGUI only logs a failed start-up handler; a half-started instance must not keep running
            log.critical('chatapp could not start', exc_info=True)
            logging.shutdown()
            os._exit(3)

    async def _start(self) -> None:
        await self.database.prepare_schema()
        await self.bus.start()
        self.catalog.start()
        # a lone instance knows every other claim is a dead process's; several instances wait for leases
        await self.engine.interrupt_orphans(alone=not self.scaled_out)
        await self.engine.answer_waiting()
        if self.scaled_out:
            self._sweeper = asyncio.create_task(self._sweep_orphans(), name='orphan-sweeper')
        self.local_user = await self.store.upsert_user(LOCAL_PROVIDER, 'local', name='Local user')
        self._started.set()

    async def _sweep_orphans(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                await self.engine.interrupt_orphans()
            except Exception:
                log.exception('sweeping orphaned replies failed')

    async def ready(self) -> None:
        """Wait for start-up: NiceGUI runs async start-up handlers as tasks, so a request may come first."""
        await self._started.wait()

    def model_status(self) -> str:
        """'ok' (every endpoint answers), 'unreachable' (none does), 'degraded' (some do), 'unknown' (not asked
        yet) or 'demo' (the offline model), as the model lists were last read."""
        states = set(self.catalog.status().values())
        if not states:
            return 'demo'
        if len(states) == 1 or 'unknown' in states:
            return 'unknown' if 'unknown' in states else states.pop()
        return 'degraded'

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.engine.shutdown(grace=self.settings.shutdown_grace)
        await self.engine.send_limit.close()
        await self.catalog.close()
        await renderer.close()
        await self.bus.close()
        await self.database.close()
        log.info('stopped; every reply is saved')  # journalctl tells a clean stop from a kill by this line

