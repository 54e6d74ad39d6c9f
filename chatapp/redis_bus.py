"""Live events between app instances over Redis pub/sub, for when several processes serve one team.

Every event is delivered to this process's views at once (as the in-process bus does) and published
to Redis for the other instances, which ignore what they published themselves. A reply's text so far
is kept in Redis too (appended with each delta, in the same transaction as the publish), so a view on
another instance can start from it and follow the deltas without a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as redis

from chatapp import events
from chatapp.events import Event, EventBus, ReplyDelta, ReplyFinished, ReplyNotice, ReplyStarted
from chatapp.models import Status

log = logging.getLogger(__name__)

PREFIX = 'chatapp:'
LIVE_TEXT_TTL_SECONDS = 3600
EVENT_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    ReplyStarted, ReplyDelta, ReplyNotice, ReplyFinished, events.BranchShown, events.MembersChanged,
    events.PresenceNoted, events.ConversationChanged, events.StopRequested, events.LoggedOut)}


def encode(event: Event, origin: str) -> str:
    return json.dumps({'origin': origin, 'type': type(event).__name__, 'data': dataclasses.asdict(event)})


def decode(payload: str | bytes) -> tuple[str, Event]:
    message = json.loads(payload)
    data = message['data']
    if 'status' in data:
        data['status'] = Status(data['status'])
    if isinstance(data.get('usage'), dict):
        data['usage'] = events.Usage(**data['usage'])
    return message['origin'], EVENT_TYPES[message['type']](**data)


def live_text_key(message_id: int) -> str:
    return f'{PREFIX}live:{message_id}'


class RedisEventBus(EventBus):
    def __init__(self, url: str, instance_id: str) -> None:
        super().__init__()
        self.instance_id = instance_id
        self.redis = redis.from_url(url)
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self._outgoing: asyncio.Queue[tuple[str, Event]] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        # a channel of our own, so that the listener has a subscribed connection from the start
        await self._pubsub.subscribe(f'{PREFIX}instance:{self.instance_id}')
        self._tasks = [asyncio.create_task(self._send(), name='redis-send'),
                       asyncio.create_task(self._listen(), name='redis-listen')]

    async def close(self) -> None:
        await self._flush()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pubsub.aclose()
        await self.redis.aclose()

    def subscribe(self, topic: str, handler: events.Handler) -> Callable[[], None]:
        first = not self.has_subscribers(topic)
        unsubscribe_locally = super().subscribe(topic, handler)
        if first:
            self._later(self._pubsub.subscribe(PREFIX + topic))

        def unsubscribe() -> None:
            unsubscribe_locally()
            if not self.has_subscribers(topic):
                self._later(self._pubsub.unsubscribe(PREFIX + topic))
        return unsubscribe

    def publish(self, topic: str, event: Event) -> None:
        super().publish(topic, event)
        self._outgoing.put_nowait((topic, event))

    async def live_text(self, message_id: int) -> str | None:
        text = await self.redis.get(live_text_key(message_id))
        return None if text is None else text.decode()

    async def _send(self) -> None:
        """Publish in order; a delta also extends the reply's live text, atomically with its publish."""
        while True:
            topic, event = await self._outgoing.get()
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    if isinstance(event, ReplyDelta):
                        key = live_text_key(event.message_id)
                        pipe.append(key, event.text).expire(key, LIVE_TEXT_TTL_SECONDS)
                    elif isinstance(event, ReplyStarted):
                        pipe.delete(live_text_key(event.message_id))
                    pipe.publish(PREFIX + topic, encode(event, self.instance_id))
                    await pipe.execute()
            except Exception:
                log.exception('publishing %s to Redis failed', type(event).__name__)
            finally:
                self._outgoing.task_done()

    async def _flush(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outgoing.join(), timeout=5)

    async def _listen(self) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message['type'] != 'message':
                        continue
                    origin, event = decode(message['data'])
                    if origin != self.instance_id:
                        super().publish(message['channel'].decode().removeprefix(PREFIX), event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception('Redis listener failed; reconnecting')
                await asyncio.sleep(1)

    def _later(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)
