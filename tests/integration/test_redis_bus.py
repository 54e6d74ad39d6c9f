"""Several instances over a real Redis and one database: live events cross instances, a reply is written by
exactly one of them, Stop works from any, and a dead instance's reply ends up interrupted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatapp.db import Database
from chatapp.engine import Change, ConversationView, Ended, Grew, Refused, ReplyEngine, Shown
from chatapp.events import (
    ConversationChanged,
    Event,
    ReplyDelta,
    ReplyFinished,
    ReplyStarted,
    conversation_topic,
    user_topic,
)
from chatapp.models import Status
from chatapp.redis_bus import RedisEventBus
from chatapp.settings import Settings
from chatapp.store import ConversationStore, GrowingReply
from tests.support.engines import reply_engine
from tests.support.factories import expire_claims, make_conversation
from tests.support.servers import LLMock

LONG_REPLY = ' '.join(f'w{n}' for n in range(200))


@dataclass
class Instance:
    bus: RedisEventBus
    store: ConversationStore
    engine: ReplyEngine


@pytest.fixture
async def instances(tmp_path: Path, redis_url: str, llmock: LLMock) -> AsyncIterator[tuple[Instance, Instance]]:
    settings = Settings(openai_base_url=llmock.base_url + '/v1', openai_api_key='test', llm_max_retries=0,
                        llm_timeout=5.0, redis_url=redis_url)
    url = f'sqlite+aiosqlite:///{tmp_path / "shared.db"}'
    made = []
    for name in ('a', 'b'):
        database = Database(url)
        await database.prepare_schema()
        bus = RedisEventBus(redis_url, f'instance-{name}')
        await bus.start()
        store = ConversationStore(database, bus)
        engine = reply_engine(store, bus, settings,
                                  instance_id=f'instance-{name}')
        made.append(Instance(bus, store, engine))
    yield made[0], made[1]
    for instance in made:
        await instance.engine.shutdown()
        await instance.bus.close()
        await instance.store.db.close()


async def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_a_reply_streams_live_to_another_instance(instances: tuple[Instance, Instance],
                                                        llmock: LLMock) -> None:
    a, b = instances
    alice = await a.store.upsert_user('test', 'alice')
    conversation = await make_conversation(a.store.db, alice.id, 'hello')
    seen_by_b: list[Event] = []
    seen_by_a: list[Event] = []
    b.bus.subscribe(conversation_topic(conversation.id), seen_by_b.append)
    a.bus.subscribe(conversation_topic(conversation.id), seen_by_a.append)
    await asyncio.sleep(0.2)  # b's subscription reaches Redis

    llmock.reply(LONG_REPLY)
    await a.engine.send(alice.id, conversation.id, 'hello')
    await until(lambda: any(isinstance(e, ReplyFinished) for e in seen_by_b))

    assert isinstance(seen_by_b[0], ReplyStarted)
    deltas = [e for e in seen_by_b if isinstance(e, ReplyDelta)]
    assert ''.join(d.text for d in deltas) == LONG_REPLY
    assert [d.offset for d in deltas] == [sum(len(x.text) for x in deltas[:i]) for i in range(len(deltas))]
    assert seen_by_a == seen_by_b, 'the writing instance sees each event once, like the others'
    assert await b.bus.live_text(deltas[0].message_id) == LONG_REPLY


async def test_sidebar_changes_reach_other_instances(instances: tuple[Instance, Instance]) -> None:
    a, b = instances
    alice = await a.store.upsert_user('test', 'alice')
    changes: list[Event] = []
    b.bus.subscribe(user_topic(alice.id), changes.append)
    await asyncio.sleep(0.2)
    question, _ = await a.store.add_exchange(alice.id, None, 'hello', 'm', 'instance-a')  # a new conversation
    await a.store.rename_conversation(alice.id, question.conversation_id, 'renamed')
    await until(lambda: len(changes) == 2)
    assert changes == [ConversationChanged(alice.id, question.conversation_id)] * 2


async def test_one_instance_writes_the_reply_and_any_can_stop_it(instances: tuple[Instance, Instance],
                                                                llmock: LLMock) -> None:
    a, b = instances
    alice = await a.store.upsert_user('test', 'alice')
    conversation = await make_conversation(a.store.db, alice.id, 'hello')
    finished: list[Event] = []
    b.bus.subscribe(conversation_topic(conversation.id), finished.append)
    llmock.script({'type': 'reply', 'text': LONG_REPLY},
                  {'type': 'stream_fault', 'kind': 'stall', 'after_chunks': 10, 'stall_seconds': 5})
    await a.engine.send(alice.id, conversation.id, 'hello')

    with pytest.raises(Refused, match='still being written'):
        await b.engine.send(alice.id, conversation.id, 'me too')
    await asyncio.sleep(0.3)
    b.engine.stop(alice.id, conversation.id)  # b does not run it: the request travels over Redis
    await until(lambda: any(isinstance(e, ReplyFinished) for e in finished))
    reply = (await b.store.list_messages(alice.id, conversation.id))[-1]
    assert reply.status == Status.STOPPED and reply.content
    llmock.reply('now b')
    await b.engine.send(alice.id, conversation.id, 'me too')  # the claim was released


async def test_a_dead_instances_reply_is_interrupted_by_another(instances: tuple[Instance, Instance],
                                                               llmock: LLMock) -> None:
    a, b = instances
    alice = await a.store.upsert_user('test', 'alice')
    conversation = await make_conversation(a.store.db, alice.id, 'hello')
    watched_on_a: list[Event] = []
    a.bus.subscribe(conversation_topic(conversation.id), watched_on_a.append)
    await asyncio.sleep(0.2)
    # what a dead instance leaves behind: a reply half saved, a claim nobody renews any more
    _, reply = await a.store.add_exchange(alice.id, conversation.id, 'hello', 'm', 'dead-instance')
    await a.store.save_growing('dead-instance', [GrowingReply(alice.id, conversation.id, reply.id, 'half of it')])
    await b.engine.interrupt_orphans()
    assert (await b.store.list_messages(alice.id, conversation.id))[-1].status == Status.STREAMING, \
        'a live lease protects the reply'
    await expire_claims(a.store.db)

    await b.engine.interrupt_orphans()
    saved = (await b.store.list_messages(alice.id, conversation.id))[-1]
    assert (saved.status, saved.content) == (Status.INTERRUPTED, 'half of it')
    await until(lambda: any(isinstance(e, ReplyFinished) for e in watched_on_a))
    assert watched_on_a[-1] == ReplyFinished(conversation.id, reply.id, Status.INTERRUPTED, saved.error, 10)

    llmock.reply('retried on b')
    await b.engine.regenerate(alice.id, conversation.id, reply.id)
    await until(lambda: not b.engine.is_busy(conversation.id))
    assert (await b.store.list_messages(alice.id, conversation.id))[-1].content == 'retried on b'


async def test_a_view_on_another_instance_follows_a_regenerate_and_a_switch(instances: tuple[Instance, Instance],
                                                                          llmock: LLMock) -> None:
    a, b = instances
    alice = await a.store.upsert_user('test', 'alice')
    llmock.reply('the first answer')
    sent = await a.engine.send(alice.id, None, 'hello')
    await until(lambda: not a.engine.is_busy(sent.conversation_id))
    view = ConversationView(b.engine, alice.id, sent.conversation_id)
    changes: list[Change] = []
    assert await view.load()
    await view.follow(changes.append)
    await asyncio.sleep(0.2)  # b's subscription reaches Redis

    llmock.reply(LONG_REPLY)
    again = await a.engine.regenerate(alice.id, sent.conversation_id, sent.reply.id)
    await until(lambda: any(isinstance(c, Ended) and c.message_id == again.id for c in changes))
    regenerated = next(c for c in changes if isinstance(c, Shown) and c.keep == 1)
    assert [s.siblings for s in regenerated.messages] == [[sent.reply.id, again.id]]
    shown = regenerated.messages[0].text + ''.join(c.text for c in changes if isinstance(c, Grew))
    assert shown == LONG_REPLY, 'streamed from the other instance, caught up where a delta came first'

    await a.store.show_branch(alice.id, sent.conversation_id, sent.reply.id)
    await until(lambda: isinstance(changes[-1], Shown) and changes[-1].messages[0].message.id == sent.reply.id)
    assert changes[-1].messages[0].text == 'the first answer'
    view.close()
