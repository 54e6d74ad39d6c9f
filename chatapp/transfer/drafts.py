"""A conversation read from a file, before it is stored: what both importers make, and the checks its fields pass.

A file is untrusted. Every value is checked for its type and size; a conversation that fails a check is refused
whole (`Invalid`, with a reason a person can read), and the rest of the file goes on. Free text that is merely
long where it is short elsewhere (a title) is shortened; what would change meaning (an id, a message) is refused.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chatapp.models import Role, Status
from chatapp.text import clean

MAX_MESSAGES = 20_000       # of one conversation (ChatGPT's nodes, hidden ones too)
MAX_CONTENT_CHARS = 500_000  # one message: beyond any model's reply or a pasted document
MAX_SYSTEM_PROMPT_CHARS = 100_000
MAX_KEY_CHARS = 190          # an id in a file: with its prefix it fits Conversation.imported_from (200)
MAX_NAME_CHARS = 300         # a model's key (Message.model)
TITLE_CHARS = 200
ERROR_CHARS = 1000
UNTITLED = 'Imported chat'
_MAX_COUNT = 2**31 - 1
_EARLIEST, _LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)


class Invalid(Exception):
    """This conversation of the file cannot be imported; the message says why, to the person."""


@dataclass
class DraftMessage:
    key: str  # its id in the file
    parent: str | None
    role: Role
    content: str
    created_at: datetime
    updated_at: datetime
    status: Status = Status.COMPLETE
    error: str = ''
    model: str = ''
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_estimated: bool = False
    first_token_ms: int | None = None
    tokens_per_second: float | None = None
    cost: float | None = None


@dataclass
class Draft:
    source: str  # what it is imported from: 'chatgpt:<their id>', 'chatapp:<our id>'
    title: str
    created_at: datetime
    updated_at: datetime
    messages: list[DraftMessage]  # in tree order (tree_order)
    leaf: str | None  # the key of the last message of the branch shown
    model: str = ''
    system_prompt: str | None = None


# --- checks of single values: `what` names the value in the reason -------------------------------------------

def text(value: Any, what: str, *, limit: int = MAX_CONTENT_CHARS) -> str:
    if not isinstance(value, str):
        raise Invalid(f'{what} is not text')
    if len(value) > limit:
        raise Invalid(f'{what} is longer than {limit:,} characters')
    return clean(value)


def optional_text(value: Any, what: str, *, limit: int) -> str | None:
    return None if value is None else text(value, what, limit=limit)


def title(value: Any) -> str:
    """A title as the app keeps them: one line, at most 200 characters; anything else is 'Imported chat'."""
    line = ' '.join(clean(value).split())[:TITLE_CHARS] if isinstance(value, str) else ''
    return line or UNTITLED


def key(value: Any, what: str) -> str:
    """An id in the file: text or a whole number, short."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > MAX_KEY_CHARS:
        raise Invalid(f'{what} is not an id')
    return clean(value)


def count(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_COUNT:
        raise Invalid(f'{what} is not a count')
    return value


def amount(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise Invalid(f'{what} is not a number')
    return float(value)


def flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f'{what} is not true or false')
    return value


def iso_time(value: Any, what: str) -> datetime:
    """An ISO 8601 time; one without a zone is taken as UTC."""
    if not isinstance(value, str) or len(value) > 40:
        raise Invalid(f'{what} is not a date')
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f'{what} is not a date') from None
    return _within(moment if moment.tzinfo else moment.replace(tzinfo=UTC), what)


def epoch_time(value: Any, what: str) -> datetime | None:
    """Seconds since 1970 (ChatGPT's times), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid(f'{what} is not a time')
    try:
        return _within(datetime.fromtimestamp(value, UTC), what)
    except (OverflowError, OSError, ValueError):
        raise Invalid(f'{what} is not a time') from None


def _within(moment: datetime, what: str) -> datetime:
    moment = moment.astimezone(UTC)
    if not _EARLIEST <= moment < _LATEST:
        raise Invalid(f'{what} is out of range')
    return moment


# --- the tree -------------------------------------------------------------------------------------------------

def tree_order(messages: list[DraftMessage]) -> list[DraftMessage]:
    """The messages with every parent before its children and otherwise oldest first (ids follow this order, and
    the app takes the highest id below a message for its newest branch); siblings of the same time keep the
    file's order. Refuses repeated ids, a parent that is not in the file, and loops."""
    if len(messages) > MAX_MESSAGES:
        raise Invalid(f'it has more than {MAX_MESSAGES:,} messages')
    keys = {message.key for message in messages}
    if len(keys) != len(messages):
        raise Invalid('two of its messages have the same id')
    children: dict[str | None, list[tuple[datetime, int, DraftMessage]]] = {}
    for position, message in enumerate(messages):
        if message.parent is not None and message.parent not in keys:
            raise Invalid('a message answers one that is not in the file')
        children.setdefault(message.parent, []).append((message.created_at, position, message))
    ready = list(children.get(None, []))
    heapq.heapify(ready)
    ordered: list[DraftMessage] = []
    while ready:
        _, _, message = heapq.heappop(ready)
        ordered.append(message)
        for child in children.get(message.key, ()):
            heapq.heappush(ready, child)
    if len(ordered) != len(messages):
        raise Invalid('its messages form a loop')
    return ordered
