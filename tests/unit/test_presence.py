"""Who is in a shared conversation and who is typing, over an in-process bus (over Redis it is the same events:
tests/unit/test_event_encoding.py)."""

from __future__ import annotations

import asyncio

import pytest

from chatapp.engine import presence as presence_module
from chatapp.engine.presence import RoomPresence
from chatapp.events import EventBus


class Page:
    def __init__(self, bus: EventBus, user_id: str, name: str) -> None:
        self.present: list[str] = []
        self.typing: list[str] = []
        self.room = RoomPresence(bus, 'c1', user_id, name, self._show)

    def _show(self, present: list[str], typing: list[str]) -> None:
        self.present, self.typing = present, typing


async def test_a_newcomer_learns_who_is_there_and_leaving_is_seen() -> None:
    bus = EventBus()
    alice, bob = Page(bus, 'a', 'Alice'), Page(bus, 'b', 'Bob')
    alice.room.start()
    bob.room.start()
    assert (alice.present, bob.present) == (['Bob'], ['Alice'])  # Alice answered the newcomer
    alices_other_tab = Page(bus, 'a', 'Alice')
    alices_other_tab.room.start()
    assert alice.present == ['Bob'] and bob.present == ['Alice']  # a person, not their tabs
    alice.room.stop()
    assert bob.present == ['Alice']  # still there in her other tab
    alices_other_tab.room.stop()
    assert bob.present == []


async def test_typing_is_said_at_most_every_few_seconds_and_shown_for_a_while(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(presence_module, 'TYPING_SHOWN_SECONDS', 0.2)
    bus = EventBus()
    said: list[str] = []
    bus.subscribe('conversation:c1', lambda event: said.append(getattr(event, 'state', '')))
    alice, bob = Page(bus, 'a', 'Alice'), Page(bus, 'b', 'Bob')
    alice.room.start()
    bob.room.start()
    for count in range(1, 11):  # every key
        bob.room.typing('x' * count)
    assert said.count('typing') == 1
    assert alice.typing == ['Bob']
    await asyncio.sleep(0.4)
    assert alice.typing == [] and alice.present == ['Bob']

    bob.room.typing('Next')
    assert alice.typing == []  # said a moment ago
    bob.room.typing('')  # sent: the others stop seeing it at once, and the next draft is said at once
    bob.room.typing('N')
    assert said[-2:] == ['idle', 'typing'] and alice.typing == ['Bob']
    bob.room.typing('')
    assert alice.typing == []
    bob.room.typing('')
    assert said.count('idle') == 2  # an empty draft that was never said is not said either
    alice.room.stop()
    bob.room.stop()
