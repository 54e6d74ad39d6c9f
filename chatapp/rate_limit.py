"""How many messages a person may send a minute: a guard rail for the team's bill and the model's capacity.

The window slides: a send is admitted while fewer than `per_minute` sends of the person's were admitted
in the last 60 seconds. With Redis, every instance shares one log per person (a sorted set, checked and
written by one script, so two instances never both take the last place). Without it there is one
instance, and the database's record of the person's messages is the log; sends of one person take turns
between the check and the store, so a burst of them cannot all pass the check at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

from chatapp.models import utcnow

WINDOW_SECONDS = 60.0
REDIS_PREFIX = 'chatapp:sends:'
# KEYS[1]: the person's log; ARGV: now, window, limit, a unique member. Returns 0 (admitted) or the
# seconds until the oldest send in the window leaves it.
_ADMIT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
  return tostring(oldest + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(window))
return '0'
"""

# (user id, since) -> how many messages the person sent since then, and when the first of them was
SentSince = Callable[[str, datetime], Awaitable[tuple[int, datetime | None]]]


class TooManySends(Exception):
    def __init__(self, wait_seconds: float) -> None:
        super().__init__(wait_seconds)
        self.wait_seconds = wait_seconds


class SendLimit:
    def __init__(self, per_minute: int, sent_since: SentSince, redis_url: str = '') -> None:
        self.per_minute = per_minute
        self._sent_since = sent_since
        self._redis = None
        if redis_url and per_minute > 0:
            import redis.asyncio as redis  # only a scaled-out deployment needs it
            self._redis = redis.from_url(redis_url)
        self._turns: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @contextlib.asynccontextmanager
    async def admitted(self, user_id: str) -> AsyncIterator[None]:
        """Raises TooManySends when the person has sent enough this minute; else the block stores the send."""
        if self.per_minute <= 0:
            yield
            return
        if self._redis is not None:
            await self._admit_shared(user_id)
            yield
            return
        turn = self._turns.setdefault(user_id, asyncio.Lock())
        async with turn:
            now = utcnow()
            sent, first = await self._sent_since(user_id, now - timedelta(seconds=WINDOW_SECONDS))
            if sent >= self.per_minute:
                first = (first or now).replace(tzinfo=UTC)  # the database may hand it back naive
                raise TooManySends(max(1.0, (first - now).total_seconds() + WINDOW_SECONDS))
            yield

    async def _admit_shared(self, user_id: str) -> None:
        assert self._redis is not None
        wait = float(await self._redis.eval(_ADMIT, 1, REDIS_PREFIX + user_id, time.time(), WINDOW_SECONDS,
                                            self.per_minute, uuid.uuid4().hex))
        if wait > 0:
            raise TooManySends(wait)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
