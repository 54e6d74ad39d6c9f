"""Events as they travel between instances over Redis: encoded and decoded, they are the same events.

(integration/test_redis_bus.py: over a real Redis.)
"""

from __future__ import annotations

import dataclasses
import typing

from chatapp.events import BranchShown, Event, ReplyFinished, Usage
from chatapp.models import Status
from chatapp.redis_bus import EVENT_TYPES, decode, encode


def test_events_survive_the_round_trip() -> None:
    usage = Usage(120, 40, False, 310, 52.5, 0.0012)
    for event in (ReplyFinished('c', 7, Status.STOPPED, 'why', 12),
                  ReplyFinished('c', 8, Status.COMPLETE, '', 3, usage), BranchShown('c')):
        assert decode(encode(event, 'me')) == ('me', event)


def test_every_kind_of_event_can_cross_to_another_instance() -> None:
    assert set(EVENT_TYPES.values()) == set(typing.get_args(Event))
    assert all(dataclasses.is_dataclass(kind) for kind in EVENT_TYPES.values())
