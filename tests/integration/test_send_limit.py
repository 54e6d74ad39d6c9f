"""The send rate limit: checked before anything is stored or sent to the model, atomic under a burst, and
shared by instances over Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from chatapp.db import Database
from chatapp.engine import Refused, ReplyEngine
from chatapp.events import EventBus
from chatapp.models import Message, Role
from chatapp.rate_limit import SendLimit
from chatapp.settings import Settings
from chatapp.store import ConversationStore
from tests.support.engines import reply_engine
from tests.support.servers import LLMock

LIMIT = 3


def model_settings(llmock: LLMock, **extra: object) -> Settings:
    return Settings(openai_base_url=llmock.base_url + '/v1', openai_api_key='test', llm_max_retries=0,
                    llm_timeout=5.0, **extra)


async def start_engine(database_url: str, settings: Settings, redis_url: str = '', instance: str = 'a',
                 ) -> tuple[ReplyEngine, ConversationStore]:
    database = Database(database_url)
    await database.prepare_schema()
    store = ConversationStore(database, EventBus())
    limit = SendLimit(LIMIT, store.sent_since, redis_url)
    return reply_engine(store, store.bus, settings, instance_id=instance,
                       send_limit=limit), store


@pytest.fixture
async def one(database_url: str, llmock: LLMock) -> AsyncIterator[tuple[ReplyEngine, ConversationStore]]:
    engine, store = await start_engine(database_url, model_settings(llmock))
    yield engine, store
    await engine.shutdown()
    await store.db.close()


async def user_messages(store: ConversationStore) -> int:
    async with store.db.session() as session:
        return (await session.exec(select(func.count()).where(Message.role == Role.USER))).one()


async def wait_idle(engine: ReplyEngine) -> None:
    async with asyncio.timeout(20):
        while engine.running_count:
            await asyncio.sleep(0.02)


async def test_a_send_past_the_limit_is_refused_before_it_is_stored_or_sent(
        one: tuple[ReplyEngine, ConversationStore], llmock: LLMock) -> None:
    engine, store = one
    alice = await store.upsert_user('test', 'alice')
    bob = await store.upsert_user('test', 'bob')
    for n in range(LIMIT):
        llmock.reply(f'answer {n}')
        await engine.send(alice.id, None, f'question {n}')
    await wait_idle(engine)
    with pytest.raises(Refused, match=r'3 messages within a minute.*Wait \d+ s'):
        await engine.send(alice.id, None, 'one too many')
    assert await user_messages(store) == LIMIT
    assert len(llmock.requests()) == LIMIT
    llmock.reply('for bob')
    await engine.send(bob.id, None, 'another person has a limit of their own')
    await wait_idle(engine)


async def test_a_burst_of_sends_at_once_admits_exactly_the_limit(one: tuple[ReplyEngine, ConversationStore],
                                                                   llmock: LLMock) -> None:
    engine, store = one
    alice = await store.upsert_user('test', 'alice')
    llmock.script(*[{'type': 'reply', 'text': 'ok'}] * 10)
    results = await asyncio.gather(*(engine.send(alice.id, None, f'burst {n}') for n in range(10)),
                                   return_exceptions=True)
    await wait_idle(engine)
    assert sum(not isinstance(result, BaseException) for result in results) == LIMIT
    assert all(isinstance(result, Refused) for result in results if isinstance(result, BaseException))
    assert await user_messages(store) == LIMIT
    assert len(llmock.requests()) == LIMIT


async def test_instances_share_the_limit_over_redis(tmp_path: Path, redis_url: str, llmock: LLMock) -> None:
    url = f'sqlite+aiosqlite:///{tmp_path / "shared.db"}'
    settings = model_settings(llmock, redis_url=redis_url)
    a, store = await start_engine(url, settings, redis_url, 'a')
    b, _ = await start_engine(url, settings, redis_url, 'b')
    try:
        alice = await store.upsert_user('test', 'alice')
        llmock.script(*[{'type': 'reply', 'text': 'ok'}] * 12)
        sends = [instance.send(alice.id, None, f'burst {n}') for n in range(6) for instance in (a, b)]
        results = await asyncio.gather(*sends, return_exceptions=True)
        await wait_idle(a)
        await wait_idle(b)
        assert sum(not isinstance(result, BaseException) for result in results) == LIMIT
        assert await user_messages(store) == LIMIT
    finally:
        for engine in (a, b):
            await engine.shutdown()
            await engine.send_limit.close()
            await engine.store.db.close()
