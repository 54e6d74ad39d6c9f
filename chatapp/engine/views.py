"""What a page sees of one conversation: a consistent snapshot, then every later change, in order.

A view reads the stored messages and takes the live text of a reply this process is writing with no
await in between, so the deltas that follow line up with what it shows. Text it missed (a reply another
instance writes, a delta lost on the way) is caught up from the live text on the bus, and a reply that
ends with less shown than it has is read from the database. The page only ever appends what it is given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from chatapp.attachments.content import NewAttachment, ShownFile
from chatapp.engine.replies import Refused, ReplyEngine
from chatapp.events import (
    BranchShown,
    Event,
    MembersChanged,
    ReplyDelta,
    ReplyFinished,
    ReplyNotice,
    ReplyStarted,
    Usage,
    conversation_topic,
)
from chatapp.models import WRITE, Access, Conversation, Message, Role, Status
from chatapp.render_worker import renderer
from chatapp.store import Branch, Pick

# a long conversation is shown a page of messages at a time, and a page holds at most MAX_SHOWN of them: what a
# page costs the server does not grow with the conversation
PAGE_MESSAGES = 30
MAX_SHOWN = 150
REVEAL_CONTEXT = 5  # messages shown before one a page opens at

log = logging.getLogger(__name__)
_tasks: set[asyncio.Task] = set()  # the event loop keeps only weak references to tasks


@dataclass(frozen=True)
class ShownMessage:
    message: Message
    text: str  # what to show now; a streaming reply grows from here
    streaming: bool
    siblings: list[int] = field(default_factory=list)  # itself and the messages it can be switched to, or []
    attachments: list[ShownFile] = field(default_factory=list)  # what a question attaches


@dataclass(frozen=True)
class Shown:
    """The branch shown from here on: keep the first `keep` messages shown, drop the rest, add these."""
    keep: int
    messages: list[ShownMessage]


@dataclass(frozen=True)
class Earlier:
    """Messages older than those shown, to show above them."""
    messages: list[ShownMessage]


@dataclass(frozen=True)
class Trimmed:
    """No longer shown: the first `top` and the last `bottom` messages shown (a page keeps at most MAX_SHOWN)."""
    top: int
    bottom: int


@dataclass(frozen=True)
class Grew:
    """Text to append to a streaming reply."""
    message_id: int
    text: str


@dataclass(frozen=True)
class Waiting:
    """A passing state of a reply that has not begun, e.g. a rate limit being waited out."""
    message_id: int
    text: str


@dataclass(frozen=True)
class Ended:
    """The reply has all its text and will not grow."""
    message_id: int
    status: Status
    error: str
    usage: Usage | None = None


@dataclass(frozen=True)
class AccessChanged:
    """The owner brought someone in, changed a role or took someone out; `access` is this person's now (None: they
    may no longer see the conversation, and nothing more of it reaches the page)."""
    access: Access | None


Change = Shown | Earlier | Trimmed | Grew | Waiting | Ended | AccessChanged


@dataclass
class _Progress:
    """A streaming reply as this view has shown it."""
    shown: int  # characters
    catching_up: bool = False


class ConversationView:
    """One page's view of one conversation (None: a new one, made by the first send), for one person."""

    def __init__(self, engine: ReplyEngine, user_id: str, conversation_id: str | None, *,
                 link: str | None = None) -> None:
        """`link`: the view of a read-only link's reader (`user_id`, '' when not logged in), who reads what the
        link shows and may copy it into a conversation of their own."""
        self.engine = engine
        self.user_id = user_id
        self.conversation_id = conversation_id
        self.link = link
        self.live = True  # follows the conversation (a link up to a message does not)
        self._on_change: Callable[[Change], None] = lambda change: None
        self._path: list[int] = []  # the ids of the conversation's branch, in order
        self._lengths: list[int] = []  # of each message of the branch, in characters, as last read
        self._start = 0  # where the messages shown begin in the branch
        self._shown_ids: list[int] = []  # the messages of the branch shown, in order
        self._siblings: dict[int, list[int]] = {}  # of the messages shown that have any
        self._heard: set[int] = set()  # replies heard of that were not shown: a read showed where they are
        self._streaming: dict[int, _Progress] = {}
        self._loaded: Branch | None = None
        self.forked_from: tuple[str, str] | None = None  # (id, title) of the conversation this one came from
        self.model = engine.catalog.default_key  # of the next reply
        self.system_prompt: str | None = None  # the conversation's own; None: the app's
        self.access: Access | None = Access.OWNER  # of a new conversation: its owner's
        self.stored: Conversation | None = None  # as loaded (None: a new one)
        self.speakers: dict[str, str] = {}  # who wrote the questions shown, where the page names them (Branch)
        self._sync_lock = asyncio.Lock()
        self._sync_task: asyncio.Task | None = None
        self._sync_again = False
        self._unsubscribe: Callable[[], None] | None = None
        self._closed = False

    async def load(self, reveal: int | None = None) -> bool:
        """Read the conversation, its newest messages (or those around `reveal`); False when it does not exist or
        is not this person's. A new one starts with the model the person picked last."""
        pick = _newest if reveal is None else _around(reveal)
        if self.link is not None:
            return await self._load_link(self.link, pick)
        if self.conversation_id is None:
            self._pick(await self.engine.store.last_model(self.user_id))
            return True
        self._loaded = await self.engine.store.read_branch(self.user_id, self.conversation_id, pick)
        if self._loaded is None or self._loaded.conversation is None:
            return False
        origin, conversation = self._loaded.forked_from, self._loaded.conversation
        self.access = self._loaded.access
        self.stored = conversation
        self.forked_from = (origin.id, origin.title) if origin is not None else None
        self._pick(conversation.model)
        self.system_prompt = conversation.system_prompt
        return True

    async def _load_link(self, token: str, pick: Pick) -> bool:
        read = await self.engine.store.read_link(token, opened=True, pick=pick)
        if read is None:
            return False
        link, self._loaded = read
        self.conversation_id, self.live, self.access = link.conversation_id, link.up_to is None, None
        self.stored = self._loaded.conversation
        return True

    def _pick(self, key: str) -> None:
        if key and self.engine.catalog.get(key) is not None:
            self.model = key

    async def follow(self, on_change: Callable[[Change], None]) -> None:
        """Hand `on_change` what `load` read, with the live state of a running reply, then every change."""
        self._on_change = on_change
        if self.conversation_id is not None:
            if self.live:
                self._subscribe()
            await self._sync(self._loaded)
            self._loaded = None

    def close(self) -> None:
        """Nothing more reaches the page."""
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._on_change = lambda change: None

    @property
    def has_earlier(self) -> bool:
        """Older messages of the branch are not shown (yet)."""
        return self._start > 0

    @property
    def has_later(self) -> bool:
        """Newer messages of the branch are not shown: the page shows a stretch of the past, not the end."""
        return self._start + len(self._shown_ids) < len(self._path)

    @property
    def last_message_id(self) -> int | None:
        """The newest message of the branch, shown or not."""
        return self._path[-1] if self._path else None

    def unshown_lengths(self) -> list[int]:
        """The lengths of the branch's messages not shown, in characters (for the context gauge)."""
        return self._lengths[:self._start] + self._lengths[self._start + len(self._shown_ids):]

    async def show_earlier(self) -> bool:
        """Show a page of the messages before those shown; False when there are none (or the branch changed)."""
        async with self._sync_lock:
            if not self.has_earlier or not self._shown_ids:
                return False
            branch = await self._read(_before(self._shown_ids[0]))
            if not self._continues(branch, at=branch.start + len(branch.messages)):
                return False
            await _render_missing(self.engine, branch.messages)
            self._take(branch, branch.start)
            self._shown_ids[:0] = [m.id for m in branch.messages if m.id is not None]
            self._on_change(Earlier(self._shown_all(branch, branch.messages)))
            self._trim(bottom=len(self._shown_ids) - MAX_SHOWN)
        return True

    async def show_later(self) -> bool:
        """Show a page of the messages after those shown, where the page shows a stretch of the past."""
        async with self._sync_lock:
            if not self.has_later or not self._shown_ids:
                return False
            branch = await self._read(_after(self._shown_ids[-1]))
            if not self._continues(branch, at=self._start):
                return False
            await _render_missing(self.engine, branch.messages)
            self._take(branch, self._start)
            keep = len(self._shown_ids)
            self._shown_ids += [m.id for m in branch.messages if m.id is not None]
            self._on_change(Shown(keep, self._shown_all(branch, branch.messages)))
            self._trim(top=len(self._shown_ids) - MAX_SHOWN)
        return True

    def _continues(self, branch: Branch, *, at: int) -> bool:
        """The branch read still holds the messages shown, from `at` on; if not, it changed: read it anew."""
        path = branch.path or []
        if path[at:at + len(self._shown_ids)] != self._shown_ids:
            self._sync_soon()
            return False
        return True

    def _take(self, branch: Branch, start: int) -> None:
        self._path, self._lengths, self._start = branch.path or [], branch.lengths, start
        self._siblings |= {i: s for i, s in branch.siblings.items()}
        self.speakers = self.speakers | branch.speakers

    def _trim(self, *, top: int = 0, bottom: int = 0) -> None:
        top, bottom = max(top, 0), max(bottom, 0)
        if not top and not bottom:
            return
        dropped = self._shown_ids[:top] + self._shown_ids[len(self._shown_ids) - bottom:]
        del self._shown_ids[len(self._shown_ids) - bottom:]
        del self._shown_ids[:top]
        self._start += top
        for message_id in dropped:
            self._streaming.pop(message_id, None)
            self._siblings.pop(message_id, None)
        self._on_change(Trimmed(top, bottom))

    @property
    def can_write(self) -> bool:
        return self.access in WRITE

    @property
    def busy(self) -> bool:
        """A reply is being written: the page offers Stop instead of Send."""
        return bool(self._streaming) or (self.conversation_id is not None
                                         and self.engine.is_busy(self.conversation_id))

    # --- actions (each raises Refused with a reason for the person) --------------------------------------

    async def send(self, text: str, *, instead_of: int | None = None,
                   attachments: Sequence[NewAttachment] = ()) -> None:
        """Send a message with its files; `instead_of`: an edit of that message of the person's, a new branch beside
        it."""
        self._check_writing()
        sent = await self.engine.send(self.user_id, self.conversation_id, text, model=self.model,
                                      instead_of=instead_of, system_prompt=self.system_prompt, attachments=attachments)
        if self.conversation_id is None:
            self.conversation_id = sent.conversation_id
            self._subscribe()
            if attachments:  # their rows are read with the question
                await self._sync()
                return
            # all there is: no read on the way to the first token
            await self._sync(Branch([sent.question, sent.reply], {}, path=[sent.question.id or 0, sent.reply.id or 0],
                                    lengths=[len(sent.question.content), 0]))
        else:
            await self._sync_now()  # with whatever another tab sent meanwhile

    def stop(self) -> None:
        if self.conversation_id is not None and self.can_write:
            self.engine.stop(self.user_id, self.conversation_id)

    async def regenerate(self, message_id: int, model: str | None = None) -> None:
        """A new reply beside this one, by `model` (None: the conversation's); the old one stays as its sibling."""
        self._check_writing()
        if self.conversation_id is not None:
            await self.engine.regenerate(self.user_id, self.conversation_id, message_id, model=model or self.model)
            await self._sync_now()

    async def choose_model(self, key: str) -> None:
        """The model of the next reply, and of the person's next new conversation."""
        self._check_owning()
        self.model = key
        await self.engine.store.set_model(self.user_id, self.conversation_id, key)

    def prepare(self, model: str, system_prompt: str | None) -> None:
        """The model and system prompt a new conversation starts with (a preset's); nothing is stored until it
        is sent. A model no longer offered leaves the one chosen."""
        self._pick(model)
        self.system_prompt = system_prompt

    async def set_system_prompt(self, prompt: str | None) -> None:
        """The conversation's own system prompt (None: the app's); a new conversation keeps it until it is sent."""
        self._check_owning()
        self.system_prompt = prompt
        if self.conversation_id is not None:
            await self.engine.store.set_system_prompt(self.user_id, self.conversation_id, prompt)

    async def fork(self, message_id: int) -> str | None:
        """A new conversation holding the branch up to this message; its id, None if there is none."""
        if self.conversation_id is None or not self.user_id:
            return None
        if self.link is not None:
            fork = await self.engine.store.copy_from_link(self.user_id, self.link, message_id)
            return fork.id if fork is not None else None
        fork = await self.engine.store.fork(self.user_id, self.conversation_id, message_id)
        return fork.id if fork is not None else None

    async def show_sibling(self, message_id: int) -> None:
        """Show the branch through this message (every open view of the conversation follows)."""
        self._check_writing()
        if self.conversation_id is not None:
            await self.engine.store.show_branch(self.user_id, self.conversation_id, message_id)
            await self._sync_now()

    def _check_writing(self) -> None:
        if not self.can_write:
            raise Refused('You can read this conversation, but not write in it.')

    def _check_owning(self) -> None:
        if self.access != Access.OWNER:
            raise Refused('Only the owner of this conversation chooses its model and instructions.')

    # --- the snapshot ------------------------------------------------------------------------------------

    def _subscribe(self) -> None:
        assert self.conversation_id is not None
        if self._closed:  # the page went away while a send was stored
            return
        self._unsubscribe = self.engine.bus.subscribe(conversation_topic(self.conversation_id), self._on_event)

    async def _read(self, pick: Pick) -> Branch:
        assert self.conversation_id is not None
        if self.link is not None:
            read = await self.engine.store.read_link(self.link, opened=False, pick=pick)
            if read is None:  # revoked: nothing more reaches the page
                self._spawn(self._lose(), 'link-revoked')
            return read[1] if read is not None else Branch([], {}, path=[])
        return await self.engine.store.read_branch(self.user_id, self.conversation_id, pick) or Branch([], {}, path=[])

    async def _lose(self) -> None:
        on_change = self._on_change
        self.close()
        on_change(AccessChanged(None))

    async def _sync(self, branch: Branch | None = None) -> None:
        """Show the branch as stored now: what another tab sent, regenerated or chose meanwhile."""
        async with self._sync_lock:
            if branch is None:
                branch = await self._read(self._next)
            # a reply that finished while we read would show its stale text: read once more
            if any(m.status == Status.STREAMING and not self._is_live(m) for m in branch.messages):
                branch = await self._read(self._next)
            await _render_missing(self.engine, branch.messages)
            if any(m.status == Status.STREAMING and not self._is_live(m) for m in branch.messages):
                branch = await self._read(self._next)
            # from here on nothing awaits: the live text taken now and the deltas after it line up exactly
            if branch.start != self._start:  # another stretch of the branch: shown afresh
                self._shown_ids, self._start = [], branch.start
            keep = self._kept(branch)
            self._path = branch.path if branch.path is not None else [m.id or 0 for m in branch.messages]
            self._lengths = branch.lengths
            new = branch.messages[keep:]
            if not new and keep == len(self._shown_ids):
                return
            for dropped in self._shown_ids[keep:]:
                self._streaming.pop(dropped, None)
            self._shown_ids[keep:] = [m.id for m in new if m.id is not None]
            self._siblings = {i: branch.siblings[i] for i in self._shown_ids if i in branch.siblings}
            self.speakers = self.speakers | branch.speakers
            self._on_change(Shown(keep, self._shown_all(branch, new)))
            self._trim(top=len(self._shown_ids) - MAX_SHOWN)

    def _next(self, path: Sequence[int]) -> tuple[int, int]:
        """What to read of the branch now stored (`path`): the stretch shown, to the end where the page shows the end
        (the newest page instead, where the branch changed above what is shown, or grew by more than a page holds)."""
        end = self._start + len(self._shown_ids)
        at_end = end == len(self._path)
        same = next((i for i, (a, b) in enumerate(zip(self._path, path, strict=False)) if a != b),
                    min(len(self._path), len(path)))
        if same < self._start or (at_end and len(path) - end > MAX_SHOWN):
            return _newest(path)
        return self._start, len(path) if at_end else min(len(path), end)

    def _kept(self, branch: Branch) -> int:
        """How many of the messages shown are still the first ones read, with the same siblings."""
        keep = 0
        for shown, message in zip(self._shown_ids, branch.messages, strict=False):
            if shown != message.id or self._siblings.get(shown, []) != branch.siblings.get(shown, []):
                break
            keep += 1
        return keep

    def _is_live(self, message: Message) -> bool:
        live = self.engine.live_reply(message.conversation_id)
        return live is not None and live.message_id == message.id

    def _shown_all(self, branch: Branch, messages: Sequence[Message]) -> list[ShownMessage]:
        return [self._shown(m, branch.siblings.get(m.id or 0, []), branch.attachments.get(m.id or 0, []))
                for m in messages]

    def _shown(self, message: Message, siblings: list[int], attachments: list[ShownFile]) -> ShownMessage:
        assert message.id is not None
        live = self.engine.live_reply(message.conversation_id)
        if message.role == Role.USER:
            return ShownMessage(message, message.content, False, siblings, attachments)
        if live is not None and live.message_id == message.id:
            text = live.published_text
        elif message.status == Status.STREAMING:  # written by another instance: catch up from its live text
            text = message.content
            self._spawn(self._catch_up(message.id), 'reply-catch-up')
        else:
            return ShownMessage(message, message.content, False, siblings)
        self._streaming[message.id] = _Progress(len(text))
        return ShownMessage(message, text, True, siblings)

    # --- changes -----------------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ReplyDelta):
            self._deliver(event.message_id, event.offset, event.text)
        elif isinstance(event, ReplyNotice):
            if event.message_id in self._streaming:
                self._on_change(Waiting(event.message_id, event.text))
        elif isinstance(event, ReplyStarted | BranchShown):  # a new message, or another branch chosen
            self._sync_soon()
        elif isinstance(event, ReplyFinished):
            self._end(event)
        elif isinstance(event, MembersChanged):
            self._spawn(self._check_access() if self.link is None else self._check_link(self.link), 'view-access')

    async def _check_link(self, token: str) -> None:
        """Who may read changed: perhaps this link was revoked."""
        if await self.engine.store.read_link(token) is None:
            await self._lose()

    async def _check_access(self) -> None:
        """Someone's access changed: perhaps this person's. Without any, nothing more reaches the page."""
        assert self.conversation_id is not None
        self.access = await self.engine.store.access_of(self.user_id, self.conversation_id)
        on_change = self._on_change
        if self.access is None:
            self.close()
        on_change(AccessChanged(self.access))

    def _deliver(self, message_id: int, offset: int, text: str) -> None:
        """Pass on the part of `text` (which starts at `offset` of the reply) not shown yet."""
        progress = self._streaming.get(message_id)
        if progress is None:
            self._heard_of(message_id)
            return
        if offset > progress.shown:  # a gap: something was missed
            self._spawn(self._catch_up(message_id), 'reply-catch-up')
            return
        end = offset + len(text)
        if end > progress.shown:
            self._on_change(Grew(message_id, text[progress.shown - offset:]))
            progress.shown = end

    async def _catch_up(self, message_id: int) -> None:
        """Fill in what this view missed of a reply another instance writes, from the live text."""
        progress = self._streaming.get(message_id)
        if progress is None or progress.catching_up:
            return
        progress.catching_up = True
        try:
            text = await self.engine.bus.live_text(message_id)
        finally:
            progress.catching_up = False
        if text is not None:
            self._deliver(message_id, 0, text)

    def _end(self, event: ReplyFinished) -> None:
        progress = self._streaming.get(event.message_id)
        if progress is not None and progress.shown < event.length:  # some was missed: the database has all
            self._spawn(self._end_from_store(event, progress), 'reply-reload')
        elif event.message_id in self._shown_ids:
            self._streaming.pop(event.message_id, None)
            self._on_change(Ended(event.message_id, event.status, event.error, event.usage))
        else:
            self._heard_of(event.message_id)

    def _heard_of(self, message_id: int) -> None:
        """A reply not shown: one that began before this view subscribed is read once; one on another
        branch stays unshown."""
        if message_id not in self._shown_ids and message_id not in self._heard:
            self._heard.add(message_id)
            self._sync_soon()

    async def _end_from_store(self, event: ReplyFinished, progress: _Progress) -> None:
        stored = next((m for m in (await self._read(_only(event.message_id))).messages if m.id == event.message_id),
                      None)
        if self._streaming.get(event.message_id) is not progress:  # restarted meanwhile
            return
        if stored is not None:
            self._deliver(event.message_id, 0, stored.content)
        self._streaming.pop(event.message_id, None)
        self._on_change(Ended(event.message_id, event.status, event.error, event.usage))

    def _sync_soon(self) -> None:
        """Read what is new, once more if asked again while reading: nothing stored is left out."""
        self._sync_again = True
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = self._spawn(self._sync_while_asked(), 'view-sync')

    async def _sync_now(self) -> None:
        """Show what an action of this page changed, in the same read its own event asks for."""
        self._sync_soon()
        assert self._sync_task is not None
        await asyncio.shield(self._sync_task)

    async def _sync_while_asked(self) -> None:
        while self._sync_again:
            self._sync_again = False
            await self._sync()

    @staticmethod
    def _spawn(work: Coroutine[Any, Any, None], name: str) -> asyncio.Task:
        task = asyncio.create_task(work, name=name)
        _tasks.add(task)
        task.add_done_callback(_forget)
        return task


def _newest(path: Sequence[int]) -> tuple[int, int]:
    return max(0, len(path) - PAGE_MESSAGES), len(path)


def _around(message_id: int) -> Pick:
    """A page of messages from a little before `message_id` (the newest page where that holds it, or where the
    message is not on the branch)."""
    def pick(path: Sequence[int]) -> tuple[int, int]:
        if message_id not in path:
            return _newest(path)
        start = max(0, path.index(message_id) - REVEAL_CONTEXT)
        return _newest(path) if len(path) - start <= PAGE_MESSAGES else (start, start + PAGE_MESSAGES)
    return pick


def _before(message_id: int) -> Pick:
    def pick(path: Sequence[int]) -> tuple[int, int]:
        at = path.index(message_id) if message_id in path else 0
        return max(0, at - PAGE_MESSAGES), at
    return pick


def _after(message_id: int) -> Pick:
    def pick(path: Sequence[int]) -> tuple[int, int]:
        at = path.index(message_id) + 1 if message_id in path else len(path)
        return at, min(len(path), at + PAGE_MESSAGES)
    return pick


def _only(message_id: int) -> Pick:
    def pick(path: Sequence[int]) -> tuple[int, int]:
        at = path.index(message_id) if message_id in path else len(path)
        return at, min(len(path), at + 1)
    return pick


async def _render_missing(engine: ReplyEngine, messages: Sequence[Message]) -> None:
    """Render finished replies stored without their HTML (from before it was kept, or imported) off the event loop's
    way, one at a time, and keep it: each is rendered once, not at every open."""
    rendered: dict[int, str] = {}
    for message in messages:
        if message.role == Role.ASSISTANT and message.html is None and message.status != Status.STREAMING \
                and message.id is not None and message.content.strip():
            message.html = rendered[message.id] = await renderer.render(message.content)
            await asyncio.sleep(0)  # a cheap render runs in place: let the streams go on between two
    await engine.store.keep_html(rendered)


def _forget(task: asyncio.Task) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error('%s failed', task.get_name(), exc_info=task.exception())
