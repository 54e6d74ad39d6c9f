"""Live events from the services to whoever is watching: reply progress and sidebar changes.

Topics are per conversation (reply deltas) and per user (the sidebar), so an event only ever reaches
views that belong to the conversation's owner. Handlers run synchronously on the event loop and must
be quick; they only push updates into a page.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from chatapp.models import Status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    """What a reply cost and how fast it came."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    estimated: bool = False  # the endpoint reported none
    first_token_ms: int | None = None
    tokens_per_second: float | None = None
    cost: float | None = None


@dataclass(frozen=True)
class ReplyStarted:
    conversation_id: str
    message_id: int
    model: str


@dataclass(frozen=True)
class ReplyDelta:
    conversation_id: str
    message_id: int
    text: str    # appended to what was published before
    offset: int  # where `text` starts in the reply: a view that missed or already has it can tell


@dataclass(frozen=True)
class ReplyNotice:
    """A passing state worth showing while a reply waits (e.g. rate limited, retrying)."""
    conversation_id: str
    message_id: int
    text: str


@dataclass(frozen=True)
class ReplyFinished:
    conversation_id: str
    message_id: int
    status: Status
    error: str
    length: int  # of the final text: a view that has less reads the rest from the database
    usage: Usage | None = None


@dataclass(frozen=True)
class BranchShown:
    """The conversation shows another branch (a sibling was chosen): its views read the branch again."""
    conversation_id: str


@dataclass(frozen=True)
class MembersChanged:
    """Someone was brought into the conversation, given another role or taken out, or a read-only link of it was
    revoked: its views check their access."""
    conversation_id: str


@dataclass(frozen=True)
class PresenceNoted:
    """A page of a shared conversation is there, is gone, or its person is typing (engine/presence.py)."""
    conversation_id: str
    page_id: str
    user_id: str
    name: str
    state: str  # 'here', 'gone', 'typing' or 'idle' (its draft was sent or emptied)


@dataclass(frozen=True)
class StopRequested:
    """Stop asked for in a view that may live in another instance than the reply's task."""
    conversation_id: str
    user_id: str


@dataclass(frozen=True)
class ConversationChanged:
    """Created, renamed, deleted, moved to the top, or kept elsewhere by `user_id` (pinned, archived, filed): that
    person's sidebars reload."""
    user_id: str
    conversation_id: str  # '': none, the person's folders changed
    deleted: bool = False


@dataclass(frozen=True)
class LoggedOut:
    """A login ended: every page opened with it stops showing the person's data."""
    login: str  # login_topic's name for it


Event = (ReplyStarted | ReplyDelta | ReplyNotice | ReplyFinished | BranchShown | MembersChanged | PresenceNoted
         | StopRequested | ConversationChanged | LoggedOut)
Handler = Callable[[Event], None]


def conversation_topic(conversation_id: str) -> str:
    return f'conversation:{conversation_id}'


def user_topic(user_id: str) -> str:
    return f'user:{user_id}'


def login_topic(login_key: str) -> str:
    """The pages of one login (one browser); named by a hash, as the key itself is the cookie's secret."""
    return f'login:{hashlib.sha256(login_key.encode()).hexdigest()[:32]}'


class EventBus:
    """In-process publish/subscribe: all a single instance needs (see redis_bus for several)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def live_text(self, message_id: int) -> str | None:
        """The text so far of a reply written by another instance; in-process there is none."""
        return None

    def has_subscribers(self, topic: str) -> bool:
        return bool(self._handlers.get(topic))

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        """Register a handler; returns the function that unsubscribes it."""
        self._handlers[topic].append(handler)

        def unsubscribe() -> None:
            handlers = self._handlers.get(topic)
            if handlers and handler in handlers:
                handlers.remove(handler)
                if not handlers:
                    del self._handlers[topic]
        return unsubscribe

    def publish(self, topic: str, event: Event) -> None:
        for handler in list(self._handlers.get(topic, ())):
            try:
                handler(event)
            except Exception:  # one broken view must not stop a reply for the others
                log.exception('event handler failed for %s', topic)

    def subscriber_count(self) -> int:
        return sum(len(handlers) for handlers in self._handlers.values())
