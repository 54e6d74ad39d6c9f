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
from chatapp.events import EventBus
from chatapp.generation import Generations, Refused
from chatapp.llm import create_chat_model
from chatapp.models import Message, Role
from chatapp.rate_limit import SendLimit
from chatapp.settings import Settings
from chatapp.store import ConversationStore
from tests.support.servers import LLMock

LIMIT = 3


def model_settings(llmock: LLMock, **extra: object) -> Settings:
    return Settings(openai_base_url=llmock.base_url + '/v1', openai_api_key='test', llm_max_retries=0,
                    llm_timeout=5.0, **extra)


async def engine(database_url: str, settings: Settings, redis_url: str = '', instance: str = 'a',
                 ) -> tuple[Generations, ConversationStore]:
    database = Database(database_url)
    await database.prepare_schema()
    store = ConversationStore(database, EventBus())
    limit = SendLimit(LIMIT, store.sent_since, redis_url)
    return Generations(store, store.bus, settings, create_chat_model(settings), 'm', instance_id=instance,
                       send_limit=limit), store


@pytest.fixture
async def one(database_url: str, llmock: LLMock) -> AsyncIterator[tuple[Generations, ConversationStore]]:
    generations, store = await engine(database_url, model_settings(llmock))
    yield generations, store
    await generations.shutdown()
    await store.db.close()


async def user_messages(store: ConversationStore) -> int:
    async with store.db.session() as session:
        return (await session.exec(select(func.count()).where(Message.role == Role.USER))).one()


async def wait_idle(generations: Generations) -> None:
    async with asyncio.timeout(20):
        while generations._running:
            await asyncio.sleep(0.02)


async def test_a_send_past_the_limit_is_refused_before_it_is_stored_or_sent(
        one: tuple[Generations, ConversationStore], llmock: LLMock) -> None:
    generations, store = one
    alice = await store.upsert_user('test', 'alice')
    bob = await store.upsert_user('test', 'bob')
    for n in range(LIMIT):
        llmock.reply(f'answer {n}')
        await generations.send(alice.id, None, f'question {n}')
    await wait_idle(generations)
    with pytest.raises(Refused, match=r'3 messages within a minute.*Wait \d+ s'):
        await generations.send(alice.id, None, 'one too many')
    assert await user_messages(store) == LIMIT
    assert len(llmock.requests()) == LIMIT
    llmock.reply('for bob')
    await generations.send(bob.id, None, 'another person has a limit of their own')
    await wait_idle(generations)


async def test_a_burst_of_sends_at_once_admits_exactly_the_limit(one: tuple[Generations, ConversationStore],
                                                                   llmock: LLMock) -> None:
    generations, store = one
    alice = await store.upsert_user('test', 'alice')
    llmock.script(*[{'type': 'reply', 'text': 'ok'}] * 10)
    results = await asyncio.gather(*(generations.send(alice.id, None, f'burst {n}') for n in range(10)),
                                   return_exceptions=True)
    await wait_idle(generations)
    assert sum(not isinstance(result, BaseException) for result in results) == LIMIT
    assert all(isinstance(result, Refused) for result in results if isinstance(result, BaseException))
    assert await user_messages(store) == LIMIT
    assert len(llmock.requests()) == LIMIT


async def test_instances_share_the_limit_over_redis(tmp_path: Path, redis_url: str, llmock: LLMock) -> None:
    url = f'sqlite+aiosqlite:///{tmp_path / "shared.db"}'
    settings = model_settings(llmock, redis_url=redis_url)
    (a, store), (b, _) = await engine(url, settings, redis_url, 'a'), await engine(url, settings, redis_url, 'b')
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
        for generations in (a, b):
            await generations.shutdown()
            await generations.send_limit.close()
            await generations.store.db.close()
