"""The streaming engine: a reply is a server-side task that belongs to the conversation, not to a tab.

Sending stores the question first, then starts a live reply that builds the prompt from stored
history, streams from the model, saves the growing reply about once a second, and publishes it in
frames to every open view of the conversation. Closing a tab changes nothing; Stop ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from chatapp.attachments.content import IMAGE, NewAttachment, size_label
from chatapp.engine.titles import TitleWriter
from chatapp.events import (
    Event,
    EventBus,
    ReplyDelta,
    ReplyFinished,
    ReplyNotice,
    ReplyStarted,
    StopRequested,
    Usage,
    conversation_topic,
)
from chatapp.llm.catalog import ModelCatalog, ModelInfo
from chatapp.llm.failures import StreamTruncated, describe_failure, describe_wait, retry_delay
from chatapp.llm.prompt import build_prompt, estimate_text_tokens, estimate_tokens, prompt_budget
from chatapp.models import Message, ModelAnswers, Status, TitleSource
from chatapp.rate_limit import SendLimit, TooManySends
from chatapp.render_worker import renderer
from chatapp.settings import Settings
from chatapp.store import INTERRUPTED_BY_SERVER, Busy, Claim, ConversationStore, GrowingReply
from chatapp.text import clean

log = logging.getLogger(__name__)

# deltas are published at most once a display frame: at everyday rates (50 tokens a second) each token goes on its
# own, as soon as it comes; longer frames would save the browser work per token but hold tokens back
FRAME_SECONDS = 1 / 60
FRAMES_PER_SECOND = 100  # for all replies of this process together: many replies at once get longer frames,
                         # so the server and the browsers do less work per token when they are busiest
SAVE_SECONDS = 1.0  # the growing replies of this process are saved together this often (well inside a lease)
FINAL_SAVE_DELAYS = (1.0, 3.0)  # a final save that fails (a locked or restarting database) is tried again


BUSY = 'A reply is still being written in this conversation. Wait for it or stop it first.'
MENTION = re.compile(r'@(model|ai|assistant)\b', re.IGNORECASE)
NOT_SAVED = 'The reply could not be saved, so it was ended here.'


class Refused(Exception):
    """The request cannot be carried out; the message says why, in words for the person."""


class Occupied(Refused):
    """The conversation's reply is still being written."""

    def __init__(self) -> None:
        super().__init__(BUSY)


class _NothingWaits(Exception):
    pass


@contextlib.contextmanager
def _storage_refusal(what_happened: str) -> Iterator[None]:
    """A database that is overloaded, locked or away refuses the request in words, instead of failing it."""
    try:
        yield
    except (SQLAlchemyError, TimeoutError) as error:
        log.warning('%s: the database failed (%s)', what_happened, error)
        raise Refused(f'{what_happened}: the server could not store it just now. '
                      'Try again in a moment.') from error


@contextlib.contextmanager
def _too_many_sends(per_minute: int) -> Iterator[None]:
    try:
        yield
    except TooManySends as refusal:
        raise Refused(f'You sent {per_minute} messages within a minute, the most this app takes. Wait '
                      f'{math.ceil(refusal.wait_seconds)} s, then send again.') from None


def mentions(text: str, model: ModelInfo) -> bool:
    """Whether a message asks the model: @model (or @ai, @assistant), or the model's name or label."""
    lowered = text.lower()
    return bool(MENTION.search(text)) or any(f'@{name.lower()}' in lowered or name.lower() in lowered
                                             for name in {model.name, model.label} if len(name) >= 3)


@dataclass(eq=False)
class LiveReply:
    """A reply this process is writing: its text so far, and how much of it every view has been sent."""
    user_id: str
    conversation_id: str
    message_id: int
    model: ModelInfo
    status: Status = Status.STREAMING
    error: str = ''
    reported: Usage | None = None  # as the endpoint reported it
    prompt_estimate: int = 0
    requested_at: float = 0.0  # (monotonic) of the attempt that answered
    first_token_at: float | None = None
    last_token_at: float = 0.0
    wants_title: bool = False  # the conversation's first reply: a model titles the conversation when it ends
    saved_length: int = 0  # of the text in the database
    stop_requested: bool = False
    ended_because: str = ''  # why the engine cancelled it, if not a Stop or a shutdown
    task: asyncio.Task | None = None
    _published: list[str] = field(default_factory=list)  # joined only when a new view asks for it
    _published_length: int = 0
    _pending: list[str] = field(default_factory=list)  # received, not yet published
    _last_publish: float = 0.0
    _publish_handle: asyncio.TimerHandle | None = None

    @property
    def published_text(self) -> str:
        """What every view has been sent so far: a new view starts from this, then follows the deltas."""
        if len(self._published) > 1:
            self._published[:] = [''.join(self._published)]
        return self._published[0] if self._published else ''

    @property
    def text(self) -> str:
        return self.published_text + ''.join(self._pending)

    @property
    def length(self) -> int:
        return self._published_length + sum(map(len, self._pending))

    def receive(self, text: str, frame: float, publish: Callable[[LiveReply], None]) -> None:
        """Queue text for the views: the first piece after a quiet frame goes at once, the rest in frames."""
        self._pending.append(text)
        if self._publish_handle is not None:
            return
        now = time.monotonic()
        slot = self._last_publish + frame
        if slot <= now:
            self._last_publish = now
            publish(self)
        else:
            # the next frame counts from this slot, not from when the timer ran: counted from the timer, each
            # frame's small delay carried into the next, and a reply at nearly a token a frame drifted into
            # holding every token most of a frame
            self._last_publish = slot
            self._publish_handle = asyncio.get_running_loop().call_later(slot - now, publish, self)

    def usage(self) -> Usage:
        """Tokens, speed and cost; estimated where the endpoint reported no usage."""
        reported = self.reported or Usage()
        prompt, completion = reported.prompt_tokens, reported.completion_tokens
        estimated = completion is None
        if estimated:
            prompt, completion = prompt or self.prompt_estimate, estimate_text_tokens(self.text)
        first_token_ms = speed = None
        if self.first_token_at is not None:
            first_token_ms = round((self.first_token_at - self.requested_at) * 1000)
            streamed = self.last_token_at - self.first_token_at
            if streamed > 0 and completion and completion > 1:
                speed = round((completion - 1) / streamed, 1)  # tokens after the first, over the time they took
        return Usage(prompt, completion, estimated, first_token_ms, speed, self.model.cost(prompt, completion))

    def take_delta(self) -> ReplyDelta | None:
        """What was received since the last publish, now counted as published (None if nothing was)."""
        if self._publish_handle is not None:
            self._publish_handle.cancel()
            self._publish_handle = None
        if not self._pending:
            return None
        delta = ''.join(self._pending)
        self._pending.clear()
        offset = self._published_length
        self._published.append(delta)
        self._published_length += len(delta)
        return ReplyDelta(self.conversation_id, self.message_id, delta, offset)


@dataclass(frozen=True)
class Sent:
    conversation_id: str
    question: Message
    reply: Message | None  # None: the model does not answer it, or not yet (it waits its turn)


class ReplyEngine:
    """Starts, tracks and stops the replies of this process."""

    def __init__(self, store: ConversationStore, bus: EventBus, settings: Settings, catalog: ModelCatalog, *,
                 instance_id: str = '', send_limit: SendLimit | None = None) -> None:
        self.store = store
        self.send_limit = send_limit or SendLimit(0, store.sent_since)
        self.bus = bus
        self.settings = settings
        self.catalog = catalog
        self.titles = TitleWriter(store, catalog, settings)
        self._running: dict[str, LiveReply | None] = {}  # None: reserved while the question is stored
        self._saver: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self.accepting = True
        self.instance_id = instance_id or uuid.uuid4().hex  # names this process in reply claims

    def live_reply(self, conversation_id: str) -> LiveReply | None:
        """The conversation's reply this process is writing, if any."""
        return self._running.get(conversation_id)

    def is_busy(self, conversation_id: str) -> bool:
        return conversation_id in self._running

    @property
    def running_count(self) -> int:
        """Replies running or being started in this process."""
        return len(self._running)

    async def send(self, user_id: str, conversation_id: str | None, text: str, *, model: str | None = None,
                   instead_of: int | None = None, system_prompt: str | None = None,
                   attachments: Sequence[NewAttachment] = ()) -> Sent:
        """Store the question and start the reply; raises Refused with a reason for the person.

        `model`: the key of the model that answers (None: the default), from now on in this conversation.
        `instead_of`: the message is an edit of that one, a new branch beside it, keeping what it attached.
        `system_prompt`: a new conversation's own (None: the app's). `attachments`: the files it carries."""
        text = clean(text).strip()
        if not text and not attachments:
            raise Refused('The message is empty.')
        if len(text) > self.settings.max_message_chars:
            raise Refused(f'The message has {len(text):,} characters; the limit is '
                          f'{self.settings.max_message_chars:,}. Shorten it and send again.')
        self._check_accepting()  # before anything is stored
        answering = self._model(model)
        self._check_attachments(text, attachments, answering)
        if instead_of is not None and conversation_id is not None:
            await self._check_images(user_id, conversation_id, instead_of, answering)
        with _storage_refusal('Your message was not sent'), _too_many_sends(self.send_limit.per_minute):
            async with self.send_limit.admitted(user_id):
                if conversation_id is None:  # a new conversation: nobody else can be writing in it
                    stored = await self.store.add_exchange(user_id, None, text, answering.key, self.instance_id,
                                                           system_prompt=system_prompt, attachments=attachments)
                else:
                    stored = await self._exchange(user_id, conversation_id, text, answering, instead_of, attachments)
        if stored is None:
            raise Refused('This conversation does not exist.')
        question, reply = stored
        if reply is not None:
            self._start(user_id, question.conversation_id, reply, answering)
        return Sent(question.conversation_id, question, reply)

    def _check_attachments(self, text: str, attachments: Sequence[NewAttachment], model: ModelInfo) -> None:
        """The files a message carries: within the limits, images only for a model that takes them, and all of it
        within the prompt's budget; else Refused, saying which limit and by how much."""
        if not attachments:
            return
        settings = self.settings
        if len(attachments) > settings.max_attachments:
            raise Refused(f'A message may attach {settings.max_attachments} files at most; this one has '
                          f'{len(attachments)}. Remove some and send again.')
        largest = max(attachments, key=lambda a: a.size)
        if largest.size > settings.max_file_mb * 1_000_000:
            raise Refused(f'{largest.name} has {size_label(largest.size)}; a file may have '
                          f'{size_label(int(settings.max_file_mb * 1_000_000))} at most.')
        total = sum(a.size for a in attachments)
        if total > settings.max_attachments_mb * 1_000_000:
            raise Refused(f'The files come to {size_label(total)}; a message may attach '
                          f'{size_label(int(settings.max_attachments_mb * 1_000_000))} at most. Remove some.')
        if not model.images and any(a.kind == IMAGE for a in attachments):
            raise Refused(f'{model.label} does not take images. Remove the image, or pick a model that takes '
                          'images (marked in the model list).')
        budget = prompt_budget(settings.max_context_tokens, model.context_window)
        tokens = estimate_text_tokens(text) + sum(a.prompt_chars for a in attachments) // 4
        if budget and tokens > budget:
            raise Refused(f'The files and your message come to about {tokens:,} tokens; a prompt to {model.label} '
                          f'may hold {budget:,}. Remove a file, or pick a model with a larger context.')

    async def _check_images(self, user_id: str, conversation_id: str, message_id: int, model: ModelInfo) -> None:
        """A question with an image (an edit's, or a regenerated reply's) goes to a model that takes images only."""
        if not model.images and await self.store.attaches_images(user_id, conversation_id, message_id):
            raise Refused(f'{model.label} does not take images, and this question has one. Pick a model that takes '
                          'images (marked in the model list).')

    async def _exchange(self, user_id: str, conversation_id: str, text: str, model: ModelInfo,
                        instead_of: int | None, attachments: Sequence[NewAttachment]) -> tuple[Message, Message | None]:
        """A message in an existing conversation. Alone, a person is answered at once (or refused while a reply is
        being written). Where several people write, a message the model is not asked to answer is only stored,
        and one sent while it answers another waits its turn."""
        room = await self.store.room(user_id, conversation_id) if instead_of is None else None
        shared = room is not None and room.shared
        if shared and room.model_answers == ModelAnswers.MENTION and not mentions(text, model):
            question = await self.store.add_question(user_id, conversation_id, text, queued=False,
                                                     attachments=attachments)
            if question is None:
                raise Refused('This conversation does not exist.')
            return question, None
        try:
            async with self._reserved(conversation_id):
                stored = await self.store.add_exchange(user_id, conversation_id, text, model.key, self.instance_id,
                                                       instead_of=instead_of, attachments=attachments)
                if stored is None:  # (raised here, the reservation is released)
                    raise Refused('This message does not exist.' if instead_of else 'This conversation does not exist.')
            return stored
        except Occupied:
            if not shared:
                raise
        queued = await self.store.add_question(user_id, conversation_id, text, queued=True, attachments=attachments)
        if queued is None:
            raise Refused('This conversation does not exist.')
        self._answer_queued_soon(conversation_id)  # the reply it waited for may have ended meanwhile, elsewhere
        return queued, None

    def _answer_queued_soon(self, conversation_id: str) -> None:
        if self.accepting and not self.is_busy(conversation_id):
            task = asyncio.create_task(self._answer_queued(conversation_id), name='answer-queued')
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _answer_queued(self, conversation_id: str) -> None:
        """A question waited for the reply that has ended: the model answers it now (unless another instance
        does), by the conversation's model, for the conversation."""
        try:
            if not await self.store.question_waiting(conversation_id):  # as after most replies: no reservation
                return  # (that would refuse a person sending at this moment)
            async with self._reserved(conversation_id):
                answered = await self.store.answer_queued(conversation_id, self.catalog.default_key,
                                                          self.instance_id)
                if answered is None:
                    raise _NothingWaits()  # the reservation is released
        except (Refused, _NothingWaits):
            return
        except Exception:
            log.exception('answering the question waiting in conversation %s failed', conversation_id)
            return
        conversation, reply = answered
        model = self.catalog.get(reply.model) or self.catalog.get(self.catalog.default_key)
        assert model is not None
        self._start(conversation.user_id, conversation_id, reply, model)

    async def regenerate(self, user_id: str, conversation_id: str, message_id: int, *,
                         model: str | None = None) -> Message:
        """A new reply beside the reply `message_id` (also after an error or a stop), by `model` (None: the
        default); the old one stays. The conversation's next replies keep their model."""
        answering = self._model(model)
        await self._check_images(user_id, conversation_id, message_id, answering)
        with _storage_refusal('The reply was not regenerated'):
            async with self._reserved(conversation_id):
                reply = await self.store.add_sibling_reply(user_id, conversation_id, message_id, answering.key,
                                                           self.instance_id)
                if reply is None:  # (raised here, the reservation is released)
                    raise Refused('This reply does not exist.')
        self._start(user_id, conversation_id, reply, answering)
        return reply

    def _model(self, key: str | None) -> ModelInfo:
        """The model of this key, if it can answer now; else Refused, before anything is stored."""
        model = self.catalog.get(key or self.catalog.default_key)
        if model is None:
            raise Refused('That model is not offered here (any more). Pick another one.')
        if not model.available:
            raise Refused(f'{model.label} cannot answer just now ({model.reason}). Pick another model.')
        return model

    def stop(self, user_id: str, conversation_id: str) -> None:
        """End the conversation's reply, here or (asked over the bus) in the instance that writes it;
        what was written so far is kept, marked stopped."""
        live = self._running.get(conversation_id)
        if live is None:
            self.bus.publish(conversation_topic(conversation_id), StopRequested(conversation_id, user_id))
        elif live.task is not None:  # (whoever asked may write in the conversation: their view checked)
            live.stop_requested = True
            live.task.cancel()
            # httpx/anyio can swallow a cancellation that lands in a shielded section: ask once more
            asyncio.get_running_loop().call_later(0.2, live.task.cancel)

    async def shutdown(self, grace: float = 0.0) -> None:
        """Take no new messages, give running replies `grace` seconds to finish, then stop the rest;
        returns when every reply is saved (stopped ones as interrupted)."""
        self.accepting = False
        await asyncio.gather(*self._background, return_exceptions=True)  # a waiting question being answered
        tasks = [g.task for g in self._running.values() if g is not None and g.task is not None]
        if tasks and grace > 0:
            log.info('waiting up to %.0f s for %d running repl(ies)', grace, len(tasks))
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._saver is not None:
            await self._saver  # ends by itself once no reply is running
        await self.titles.close()

    async def interrupt_orphans(self, *, alone: bool = False) -> None:
        """Mark replies whose writing process died as interrupted, and tell their views.

        `alone`: this is the only instance (no Redis), so claims of any other instance are dead ones.
        """
        orphans = await self.store.interrupt_orphaned_replies(alive={self.instance_id} if alone else None)
        for message in orphans:
            assert message.id is not None
            self.bus.publish(conversation_topic(message.conversation_id),
                             ReplyFinished(message.conversation_id, message.id, message.status, message.error,
                                           len(message.content)))
            self._answer_queued_soon(message.conversation_id)  # a question may have waited for it

    async def answer_waiting(self) -> None:
        """At start: questions left waiting for the model when the instance that was to answer them stopped."""
        for conversation_id in await self.store.queued_conversations():
            self._answer_queued_soon(conversation_id)

    def _check_accepting(self) -> None:
        if not self.accepting:
            raise Refused('The server is restarting. Your message was not sent; try again in a moment.')

    @contextlib.asynccontextmanager
    async def _reserved(self, conversation_id: str) -> AsyncIterator[None]:
        """Hold the conversation while its reply is stored and claimed; released again if that fails."""
        # checked and taken without an await in between: two sends in this process can never both pass;
        # the claim in the database does the same across instances
        self._check_accepting()
        if conversation_id in self._running:
            raise Occupied()
        self._running[conversation_id] = None
        try:
            yield
        except Busy:
            self._running.pop(conversation_id, None)
            raise Occupied() from None
        except BaseException:
            self._running.pop(conversation_id, None)
            raise

    def _start(self, user_id: str, conversation_id: str, reply: Message, model: ModelInfo) -> None:
        assert reply.id is not None
        live = LiveReply(user_id, conversation_id, reply.id, model)
        self._running[conversation_id] = live
        self.bus.publish(conversation_topic(conversation_id), ReplyStarted(conversation_id, reply.id, model.key))
        live.task = asyncio.create_task(self._run(live), name=f'reply-{reply.id}')
        if self._saver is None or self._saver.done():
            self._saver = asyncio.create_task(self._save_growing_replies(), name='reply-saver')
        stop_requests = self.bus.subscribe(conversation_topic(conversation_id), self._on_stop_request)
        live.task.add_done_callback(lambda _: stop_requests())

    def _on_stop_request(self, event: Event) -> None:
        if isinstance(event, StopRequested) and self._running.get(event.conversation_id) is not None:
            self.stop(event.user_id, event.conversation_id)

    async def _run(self, live: LiveReply) -> None:
        try:
            await self._stream(live)
            live.status = Status.COMPLETE
        except asyncio.CancelledError:
            live.status = Status.STOPPED if live.stop_requested else Status.INTERRUPTED
            if not live.stop_requested:
                live.error = live.ended_because or INTERRUPTED_BY_SERVER
        except Exception as error:
            if live.stop_requested:  # stopped while stalled, the cancellation lost on the way
                live.status = Status.STOPPED
            else:
                live.status = Status.INTERRUPTED if live.text else Status.ERROR
                live.error = describe_failure(error, model=live.model.name,
                                              base_url=self.catalog.base_url(live.model.key),
                                              timeout=self.settings.llm_timeout)
                log.warning('reply %s failed: %r', live.message_id, error)
        finally:
            await self._finish(live)

    async def _stream(self, live: LiveReply) -> None:
        # the reply's own branch, whichever branch the conversation shows meanwhile
        budget = prompt_budget(self.settings.max_context_tokens, live.model.context_window)
        source = await self.store.read_prompt(live.user_id, live.conversation_id, live.message_id, budget=budget)
        if source is None:
            return  # deleted meanwhile: nothing to answer, nothing to save
        conversation = source.conversation
        system = self.settings.system_prompt if conversation.system_prompt is None else conversation.system_prompt
        prompt = build_prompt(system, [m for m in source.messages if m.id != live.message_id], budget,
                              source.speakers, source.files, images=live.model.images)
        live.prompt_estimate = sum(map(estimate_tokens, prompt))
        live.wants_title = conversation.title_source == TitleSource.FIRST_LINE
        for attempt in range(self.settings.llm_max_retries + 1):
            try:
                await self._stream_once(live, prompt)
                return
            except Exception as error:
                delay = retry_delay(error, attempt)
                if live.text or attempt == self.settings.llm_max_retries or delay is None:
                    raise  # a reply that has begun is never started over behind the person's back
                log.info('reply %s: %r, retrying in %.1f s', live.message_id, error, delay)
                self.bus.publish(conversation_topic(live.conversation_id),
                                 ReplyNotice(live.conversation_id, live.message_id,
                                             describe_wait(error, delay)))
                await asyncio.sleep(delay)

    async def _stream_once(self, live: LiveReply, prompt: list) -> None:
        finished = False
        timeout = self.settings.llm_timeout
        loop = asyncio.get_running_loop()
        chat_model = self.catalog.chat_model(live.model.key)
        live.requested_at = time.monotonic()
        # one stall timer for the whole stream, pushed back at each chunk: no timer object per token
        async with contextlib.aclosing(chat_model.astream(prompt)) as stream, asyncio.timeout(timeout) as stall:
            async for chunk in stream:
                stall.reschedule(loop.time() + timeout)
                if live.stop_requested:  # the client library may swallow a cancellation
                    raise asyncio.CancelledError()
                if isinstance(chunk.content, str) and chunk.content:
                    live.last_token_at = time.monotonic()
                    if live.first_token_at is None:
                        live.first_token_at = live.last_token_at
                    # many replies at once get longer frames: less work per token when the server is busiest
                    frame = max(FRAME_SECONDS, len(self._running) / FRAMES_PER_SECOND)
                    live.receive(clean(chunk.content), frame, self._publish)
                if chunk.response_metadata.get('finish_reason'):
                    finished = True
                usage = getattr(chunk, 'usage_metadata', None)
                if usage:
                    live.reported = Usage(usage.get('input_tokens'), usage.get('output_tokens'))
        if not finished:
            raise StreamTruncated()

    def _publish(self, live: LiveReply) -> None:
        delta = live.take_delta()
        if delta is not None:
            self.bus.publish(conversation_topic(live.conversation_id), delta)

    async def _save_growing_replies(self) -> None:
        """About once a second, save the growing text of every reply of this process and renew their claims,
        all in one write, until none is running.

        It is never cancelled: a transaction cancelled halfway can leave SQLite locked. A save that comes
        after a reply's final one changes nothing (the store saves only streaming replies)."""
        while self._running:
            await asyncio.sleep(SAVE_SECONDS)
            streaming = [g for g in self._running.values() if g is not None and g.status == Status.STREAMING]
            if not streaming:
                continue
            replies = [GrowingReply(g.user_id, g.conversation_id, g.message_id,
                                    g.text if g.length != g.saved_length else None) for g in streaming]
            try:
                await self.store.save_growing(self.instance_id, replies)
            except Exception:
                log.exception('saving %d growing repl(ies) together failed; saving each alone', len(replies))
                await self._save_each(streaming, replies)
                continue
            for live, reply in zip(streaming, replies, strict=True):
                if reply.text is not None:
                    live.saved_length = len(reply.text)

    async def _save_each(self, running: list[LiveReply], replies: list[GrowingReply]) -> None:
        """One reply that cannot be saved must not stop the saves (and claim renewals) of the others. It is
        ended as interrupted; its final save keeps what it has. A database that is away fails them all, and
        the final saves retry."""
        failed = []
        for live, reply in zip(running, replies, strict=True):
            try:
                await self.store.save_growing(self.instance_id, [reply])
            except Exception:
                failed.append(live)
                continue
            if reply.text is not None:
                live.saved_length = len(reply.text)
        if len(failed) < len(running):  # the database works: these replies themselves fail it
            for live in failed:
                log.error('reply %s cannot be saved; ending it', live.message_id)
                if live.task is not None:
                    live.ended_because = NOT_SAVED
                    live.task.cancel()

    async def _save_final(self, live: LiveReply, usage: Usage | None) -> None:
        text = live.text
        html = await renderer.render(text) if text.strip() else ''  # kept: opening it renders nothing
        for delay in (*FINAL_SAVE_DELAYS, None):
            try:
                await self.store.save_reply(live.user_id, live.message_id, text,
                                            live.status, live.error, usage, html=html,
                                            claim=Claim(live.conversation_id, self.instance_id))
                return
            except Exception as error:
                if delay is None:
                    raise
                log.warning('saving reply %s failed (%s); trying again in %g s', live.message_id, error, delay)
                await asyncio.sleep(delay)

    async def _finish(self, live: LiveReply) -> None:
        self._publish(live)
        usage = live.usage() if live.first_token_at is not None else live.reported
        try:
            await asyncio.shield(self._save_final(live, usage))  # releases the claim too
        except Exception:
            log.exception('final save of reply %s failed', live.message_id)
        finally:
            self._running.pop(live.conversation_id, None)
            self.bus.publish(conversation_topic(live.conversation_id),
                             ReplyFinished(live.conversation_id, live.message_id,
                                           live.status, live.error, len(live.text), usage))
        self._answer_queued_soon(live.conversation_id)
        if live.wants_title and live.status == Status.COMPLETE and self.accepting:
            self.titles.write(live.user_id, live.conversation_id, live.model, live.message_id)
