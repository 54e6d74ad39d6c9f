"""Who has a shared conversation open right now, and who is typing in it, as one page sees it.

Each page says it is there when it opens, again every BEAT_SECONDS, and that it is gone when it closes; a page
that stops saying so (its process died) is forgotten after FORGET_SECONDS. A page that hears of one it did not
know answers once, so a newcomer learns who was there before it. It all goes over the bus, so pages on other
instances are seen too. Typing is said at most every TYPING_EVERY_SECONDS and shown for TYPING_SHOWN_SECONDS, or
until the draft is sent or emptied.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from chatapp.events import EventBus, PresenceNoted, conversation_topic

BEAT_SECONDS = 20.0
FORGET_SECONDS = 50.0
TYPING_EVERY_SECONDS = 3.0
TYPING_SHOWN_SECONDS = 6.0


@dataclass
class _Page:
    user_id: str
    name: str
    seen: float
    typing_until: float = 0.0


class RoomPresence:
    """One page's part: `on_change(present, typing)` gets the names of the others there and of those typing."""

    def __init__(self, bus: EventBus, conversation_id: str, user_id: str, name: str,
                 on_change: Callable[[list[str], list[str]], None]) -> None:
        self.bus = bus
        self.topic = conversation_topic(conversation_id)
        self.conversation_id = conversation_id
        self.user_id = user_id
        self.name = name
        self.page_id = uuid.uuid4().hex
        self.on_change = on_change
        self._pages: dict[str, _Page] = {}  # the other pages there, by page id
        self._typing_said = 0.0
        self._unsubscribe: Callable[[], None] | None = None
        self._beat: asyncio.Task | None = None
        self._shown: tuple[list[str], list[str]] = ([], [])

    def start(self) -> None:
        self._unsubscribe = self.bus.subscribe(self.topic, self._hear)
        self._say('here')
        self._beat = asyncio.create_task(self._beat_forever(), name='presence-beat')

    def stop(self) -> None:
        if self._unsubscribe is None:
            return
        self._unsubscribe()
        self._unsubscribe = None
        if self._beat is not None:
            self._beat.cancel()
        self._say('gone')

    def typing(self, draft: str) -> None:
        """The person's draft changed: typing is said to the others at most every TYPING_EVERY_SECONDS; an empty
        draft (sent, or erased) ends it at once."""
        now = time.monotonic()
        if not draft:
            if self._typing_said:
                self._typing_said = 0.0
                self._say('idle')
        elif now - self._typing_said >= TYPING_EVERY_SECONDS:
            self._typing_said = now
            self._say('typing')

    def _say(self, state: str) -> None:
        self.bus.publish(self.topic, PresenceNoted(self.conversation_id, self.page_id, self.user_id, self.name, state))

    def _hear(self, event: object) -> None:
        if not isinstance(event, PresenceNoted) or event.page_id == self.page_id:
            return
        now = time.monotonic()
        page = self._pages.get(event.page_id)
        if event.state == 'gone':
            self._pages.pop(event.page_id, None)
        elif page is None:
            self._pages[event.page_id] = _Page(event.user_id, event.name, now)
            self._say('here')  # the newcomer learns of this page too (a page it knows does not answer)
        else:
            page.seen = now
        if event.state == 'typing' and event.page_id in self._pages:
            self._pages[event.page_id].typing_until = now + TYPING_SHOWN_SECONDS
            asyncio.get_running_loop().call_later(TYPING_SHOWN_SECONDS + 0.05, self._show)
        elif event.state == 'idle' and event.page_id in self._pages:
            self._pages[event.page_id].typing_until = 0.0
        self._show()

    async def _beat_forever(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(BEAT_SECONDS)
                self._say('here')
                now = time.monotonic()
                for page_id in [p for p, page in self._pages.items() if now - page.seen > FORGET_SECONDS]:
                    del self._pages[page_id]
                self._show()

    def _show(self) -> None:
        """Tell the page, if what it shows changes: other people (not this person's other tabs), by name."""
        if self._unsubscribe is None:
            return
        now = time.monotonic()
        others = [page for page in self._pages.values() if page.user_id != self.user_id]
        present = sorted({page.name for page in others})
        typing = sorted({page.name for page in others if page.typing_until > now})
        if (present, typing) != self._shown:
            self._shown = (present, typing)
            self.on_change(present, typing)
