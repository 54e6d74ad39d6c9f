"""A conversation is a tree of messages, on SQLite and PostgreSQL: a page reads only the branch shown, and
the model is asked with only the reply's own branch; conversations from before the tree are one branch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from chatapp import migrations
from chatapp.db import Database
from chatapp.engine import ReplyEngine
from chatapp.events import EventBus
from chatapp.models import Message, Role, Status
from chatapp.settings import Settings
from chatapp.store import Claim, ConversationStore
from tests.support.engines import reply_engine
from tests.support.factories import make_message
from tests.support.servers import LLMock

RELEASE_BEFORE_THE_TREE = '0003'


def contents(messages: list[Message] | None) -> list[str]:
    assert messages is not None
    return [m.content for m in messages]


async def two_branches(store: ConversationStore, user_id: str) -> tuple[str, Message, Message]:
    """Q1 A1, then Q2a A2a, and an edited Q2b with its A2b, which is shown. Returns the conversation and
    the leaves of both branches."""
    question, reply = await store.add_exchange(user_id, None, 'Q1', 'm', 'i1')
    cid = question.conversation_id
    q2a = await make_message(store.db, cid, Role.USER, 'Q2a', reply.id)
    a2a = await make_message(store.db, cid, Role.ASSISTANT, 'A2a', q2a.id)
    q2b = await make_message(store.db, cid, Role.USER, 'Q2b', reply.id)
    a2b = await make_message(store.db, cid, Role.ASSISTANT, 'A2b', q2b.id)
    await store.save_reply(user_id, reply.id, 'A1', Status.COMPLETE, claim=Claim(cid, 'i1'))
    return cid, a2a, a2b


async def test_an_exchange_continues_the_branch_shown(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    question, reply = await store.add_exchange(alice.id, None, 'first', 'm', 'i1')
    assert (question.parent_id, reply.parent_id) == (None, question.id)
    await store.save_reply(alice.id, reply.id, 'answer', Status.COMPLETE, claim=Claim(question.conversation_id, 'i1'))
    second, _ = await store.add_exchange(alice.id, question.conversation_id, 'second', 'm', 'i2')
    assert second.parent_id == reply.id


async def test_a_page_reads_the_branch_shown_and_nothing_of_the_others(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    bob = await store.upsert_user('test', 'bob')
    cid, a2a, _ = await two_branches(store, alice.id)
    assert contents(await store.list_messages(alice.id, cid)) == ['Q1', 'A1', 'Q2b', 'A2b']
    assert contents(await store.list_messages(alice.id, cid, up_to=a2a.id)) == ['Q1', 'A1', 'Q2a', 'A2a']
    assert await store.list_messages(bob.id, cid, up_to=a2a.id) is None
    await store.add_exchange(alice.id, cid, 'Q3', 'm', 'i2')  # under the branch shown
    assert contents(await store.list_messages(alice.id, cid))[:5] == ['Q1', 'A1', 'Q2b', 'A2b', 'Q3']


@pytest.fixture
async def engine(store: ConversationStore, llmock: LLMock) -> AsyncIterator[ReplyEngine]:
    settings = Settings(openai_base_url=llmock.base_url + '/v1', openai_api_key='test', llm_max_retries=0)
    engine = reply_engine(store, store.bus, settings)
    yield engine
    await engine.shutdown()


async def test_the_model_is_asked_with_the_replys_own_branch_only(engine: ReplyEngine, llmock: LLMock) -> None:
    store = engine.store
    alice = await store.upsert_user('test', 'alice')
    cid, _, _ = await two_branches(store, alice.id)
    llmock.reply('A3')
    await engine.send(alice.id, cid, 'Q3')
    async with asyncio.timeout(20):
        while engine.is_busy(cid):
            await asyncio.sleep(0.01)
    sent = llmock.requests()[-1]['body']['messages']
    assert [m['content'] for m in sent if m['role'] != 'system'] == ['Q1', 'A1', 'Q2b', 'A2b', 'Q3']


async def test_conversations_from_before_the_tree_become_one_branch(database_url: str) -> None:
    database = Database(database_url)
    await migrations.upgrade(database.engine, RELEASE_BEFORE_THE_TREE)
    at = "'2026-01-01 00:00:00'"
    async with database.engine.begin() as connection:
        await connection.execute(text(
            'INSERT INTO "user" (id, provider, subject, email, name, avatar_url, created_at, last_login_at) '
            f"VALUES ('u1', 'local', 'local', '', 'Local', '', {at}, {at})"))
        for cid in ('c1', 'c2', 'c3'):
            await connection.execute(text(
                f"INSERT INTO conversation (id, user_id, title, created_at, updated_at) "
                f"VALUES ('{cid}', 'u1', 'Kept', {at}, {at})"))
        # two conversations written at the same time: their ids interleave; c3 has no messages
        for cid, role, content in [('c1', 'user', 'one?'), ('c2', 'user', 'two?'), ('c1', 'assistant', 'one.'),
                                   ('c2', 'assistant', 'two.'), ('c1', 'user', 'more?'), ('c1', 'assistant', 'more.')]:
            await connection.execute(text(
                'INSERT INTO message (conversation_id, role, content, status, error, model, created_at, updated_at) '
                f"VALUES ('{cid}', '{role}', '{content}', 'complete', '', 'm', {at}, {at})"))
    await database.migrate()
    store = ConversationStore(database, EventBus())
    assert contents(await store.list_messages('u1', 'c1')) == ['one?', 'one.', 'more?', 'more.']
    assert contents(await store.list_messages('u1', 'c2')) == ['two?', 'two.']
    assert await store.list_messages('u1', 'c3') == []
    async with database.engine.connect() as connection:
        rows = (await connection.execute(text('SELECT content, id, parent_id FROM message'))).all()
    ids = {content: id for content, id, _ in rows}
    parents = {content: parent for content, _, parent in rows}
    assert parents == {'one?': None, 'two?': None, 'one.': ids['one?'], 'two.': ids['two?'],
                       'more?': ids['one.'], 'more.': ids['more?']}
    question, _ = await store.add_exchange('u1', 'c2', 'and then?', 'm', 'i1')
    assert question.parent_id == ids['two.']
    await database.close()


async def test_a_fork_copies_the_path_and_only_the_person_may_fork(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    bob = await store.upsert_user('test', 'bob')
    cid, a2a, _ = await two_branches(store, alice.id)
    assert await store.fork(bob.id, cid, a2a.id) is None
    fork = await store.fork(alice.id, cid, a2a.id)
    assert fork is not None and fork.forked_from == cid and fork.title == 'Q1 (fork)'
    assert contents(await store.list_messages(alice.id, fork.id)) == ['Q1', 'A1', 'Q2a', 'A2a']
    assert contents(await store.list_messages(alice.id, cid)) == ['Q1', 'A1', 'Q2b', 'A2b'], 'the original stays'
    branch = await store.read_branch(alice.id, fork.id)
    assert branch is not None and branch.siblings == {} and branch.forked_from is not None
    assert branch.forked_from.id == cid
    again = await store.fork(alice.id, fork.id, branch.messages[0].id or 0)
    assert again is not None and again.title == 'Q1 (fork)'


async def test_a_reply_being_written_is_forked_as_far_as_it_was_saved(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    question, reply = await store.add_exchange(alice.id, None, 'Q', 'm', 'i1')
    fork = await store.fork(alice.id, question.conversation_id, reply.id or 0)
    assert fork is not None
    copied = (await store.list_messages(alice.id, fork.id) or [])[-1]
    assert copied.status == Status.INTERRUPTED and 'still being written' in copied.error
