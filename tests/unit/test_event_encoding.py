"""Events as they travel between instances over Redis: encoded and decoded, they are the same events.

(integration/test_redis_bus.py: over a real Redis.)
"""

from __future__ import annotations

from chatapp.events import ReplyFinished
from chatapp.models import Status
from chatapp.redis_bus import decode, encode


def test_events_survive_the_round_trip() -> None:
    event = ReplyFinished('c', 7, Status.STOPPED, 'why', 12)
    assert decode(encode(event, 'me')) == ('me', event)
