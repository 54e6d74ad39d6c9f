"""The conversation store, on SQLite and PostgreSQL: ordering, paging, and that every call is scoped to the
acting user (search: test_search.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from chatapp.db import Database
from chatapp.events import ConversationChanged, EventBus, user_topic
from chatapp.models import Role, Status
from chatapp.store import PAGE_SIZE, Busy, Claim, ConversationStore, GrowingReply, Usage
from tests.support.factories import expire_claims, make_conversation, release_claims


async def test_exchange_is_stored_in_order(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    conversation = await make_conversation(store.db, alice.id, 'What is WAL mode?')
    _question, reply = await store.add_exchange(alice.id, conversation.id, 'What is WAL mode?', 'm', 'i1')
    await store.save_reply(alice.id, reply.id, 'Write-ahead logging.', Status.COMPLETE, usage=Usage(12, 4))
    messages = await store.list_messages(alice.id, conversation.id)
    assert [(m.role, m.content, m.status) for m in messages] == [
        (Role.USER, 'What is WAL mode?', Status.COMPLETE),
        (Role.ASSISTANT, 'Write-ahead logging.', Status.COMPLETE)]
    assert (messages[1].prompt_tokens, messages[1].completion_tokens, messages[1].model) == (12, 4, 'm')


async def test_other_users_conversations_do_not_exist_for_them(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    bob = await store.upsert_user('test', 'bob')
    secret = await make_conversation(store.db, alice.id, 'secret plans')
    _, reply = await store.add_exchange(alice.id, secret.id, 'secret plans', 'm', 'i1')

    assert await store.list_messages(bob.id, secret.id) is None
    assert await store.list_conversations(bob.id) == []
    assert await store.search(bob.id, 'secret') == []
    assert await store.rename_conversation(bob.id, secret.id, 'mine now') is None
    assert await store.delete_conversation(bob.id, secret.id) is False
    assert await store.add_exchange(bob.id, secret.id, 'hi', 'm', 'i1') is None
    assert await store.add_sibling_reply(bob.id, secret.id, reply.id, 'm', 'i1') is None
    await store.save_reply(bob.id, reply.id, 'overwritten', Status.COMPLETE)

    messages = await store.list_messages(alice.id, secret.id)
    assert [m.content for m in messages] == ['secret plans', '']
    assert [c.title for c in await store.list_conversations(alice.id)] == ['secret plans']


async def test_newest_first_paged_by_keyset(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    created = [await make_conversation(store.db, alice.id, f'chat {n}') for n in range(PAGE_SIZE + 5)]
    await store.add_exchange(alice.id, created[0].id, 'bump', 'm', 'i1')  # the oldest moves to the top

    first = await store.list_conversations(alice.id)
    assert len(first) == PAGE_SIZE
    assert first[0].id == created[0].id
    last = first[-1]
    rest = await store.list_conversations(alice.id, before=(last.updated_at, last.id))
    seen = [c.id for c in first + rest]
    assert sorted(seen) == sorted(c.id for c in created) and len(set(seen)) == len(seen)


async def test_rename_delete_and_events(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    events: list[ConversationChanged] = []
    store.bus.subscribe(user_topic(alice.id), events.append)
    _, first = await store.add_exchange(alice.id, None, 'first', 'm', 'i1')  # a first message starts it
    conversation_id = first.conversation_id
    await store.save_reply(alice.id, first.id, 'answer', Status.COMPLETE, claim=Claim(conversation_id, 'i1'))
    await store.add_exchange(alice.id, conversation_id, 'second', 'm', 'i1')
    renamed = await store.rename_conversation(alice.id, conversation_id, '  Better   title ')
    assert renamed.title == 'Better title'
    assert await store.rename_conversation(alice.id, conversation_id, '   ') is None
    assert await store.delete_conversation(alice.id, conversation_id)
    assert await store.list_messages(alice.id, conversation_id) is None
    assert [e.deleted for e in events] == [False, False, False, True]


async def test_one_reply_per_conversation_across_instances(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    conversation = await make_conversation(store.db, alice.id, 'q')
    _, reply = await store.add_exchange(alice.id, conversation.id, 'q', 'm', 'instance-a')
    with pytest.raises(Busy):
        await store.add_exchange(alice.id, conversation.id, 'again', 'm', 'instance-b')
    with pytest.raises(Busy):
        await store.add_sibling_reply(alice.id, conversation.id, reply.id, 'm', 'instance-b')
    await release_claims(store.db, conversation.id)  # as instance-a does when its reply ends
    await store.add_exchange(alice.id, conversation.id, 'again', 'm', 'instance-b')
    assert len(await store.list_messages(alice.id, conversation.id)) == 4


async def test_an_expired_claim_can_be_taken_over(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    conversation = await make_conversation(store.db, alice.id, 'q')
    await store.add_exchange(alice.id, conversation.id, 'q', 'm', 'instance-a')
    await expire_claims(store.db)
    await store.add_exchange(alice.id, conversation.id, 'again', 'm', 'instance-b')
    with pytest.raises(Busy):
        await store.add_exchange(alice.id, conversation.id, 'third', 'm', 'instance-a')


async def test_orphaned_replies_are_interrupted_with_what_was_saved(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    conversation = await make_conversation(store.db, alice.id, 'q')
    _, reply = await store.add_exchange(alice.id, conversation.id, 'q', 'm', 'dead-instance')
    await store.save_growing('dead-instance', [GrowingReply(alice.id, conversation.id, reply.id, 'half a rep')])

    assert await store.interrupt_orphaned_replies() == [], 'a live lease protects the reply'
    [orphan] = await store.interrupt_orphaned_replies(alive={'this-instance'})  # a lone instance restarted
    assert orphan.id == reply.id
    saved = (await store.list_messages(alice.id, conversation.id))[1]
    assert (saved.status, saved.content) == (Status.INTERRUPTED, 'half a rep')
    assert 'stopped' in saved.error
    await store.add_exchange(alice.id, conversation.id, 'retry later', 'm', 'this-instance')  # claim freed


async def test_an_expired_lease_makes_a_reply_an_orphan(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    conversation = await make_conversation(store.db, alice.id, 'q')
    _, reply = await store.add_exchange(alice.id, conversation.id, 'q', 'm', 'instance-a')
    await store.save_growing('instance-a', [GrowingReply(alice.id, conversation.id, reply.id, None)])  # renewed
    assert await store.interrupt_orphaned_replies() == []
    await expire_claims(store.db)
    assert [m.id for m in await store.interrupt_orphaned_replies()] == [reply.id]


async def test_the_final_save_releases_the_claim(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    conversation = await make_conversation(store.db, alice.id, 'q')
    _, reply = await store.add_exchange(alice.id, conversation.id, 'q', 'm', 'instance-a')
    with pytest.raises(Busy):
        await store.add_exchange(alice.id, conversation.id, 'again', 'm', 'instance-b')
    await store.save_reply(alice.id, reply.id, 'the reply', Status.COMPLETE, claim=Claim(conversation.id, 'instance-a'))
    await store.add_exchange(alice.id, conversation.id, 'again', 'm', 'instance-b')  # released
    saved = (await store.list_messages(alice.id, conversation.id))[1]
    assert (saved.content, saved.status) == ('the reply', Status.COMPLETE)
    with pytest.raises(ValueError):  # growing text goes through save_growing, which renews the claims
        await store.save_reply(alice.id, reply.id, 'half', Status.STREAMING)


async def test_growing_replies_are_saved_together_each_only_for_its_owner(store: ConversationStore) -> None:
    alice, bob = await store.upsert_user('test', 'alice'), await store.upsert_user('test', 'bob')
    exchanges = [await store.add_exchange(alice.id, None, f'q{n}', 'm', 'instance-a') for n in range(3)]
    await expire_claims(store.db)
    growing = [GrowingReply(alice.id, reply.conversation_id, reply.id, f'text {n}')
               for n, (_, reply) in enumerate(exchanges)]
    growing[1] = dataclasses.replace(growing[1], text=None)  # unchanged: only its claim is renewed
    growing[2] = dataclasses.replace(growing[2], user_id=bob.id)  # not bob's reply: not written
    await store.save_growing('instance-a', growing)

    saved = [(await store.list_messages(alice.id, reply.conversation_id))[1].content for _, reply in exchanges]
    assert saved == ['text 0', '', '']
    assert await store.interrupt_orphaned_replies() == [], 'the claims were renewed'
    await store.save_reply(alice.id, exchanges[0][1].id, 'the whole text', Status.COMPLETE)
    await store.save_growing('instance-a', growing)  # a save that came late
    final = (await store.list_messages(alice.id, exchanges[0][1].conversation_id))[1]
    assert (final.content, final.status) == ('the whole text', Status.COMPLETE)


async def test_upsert_keeps_identity_and_refreshes_profile(store: ConversationStore) -> None:
    first = await store.upsert_user('oidc', 'sub-1', email='a@x.org', name='A')
    again = await store.upsert_user('oidc', 'sub-1', email='a@y.org', name='Alice')
    other = await store.upsert_user('github', 'sub-1')
    assert first.id == again.id != other.id
    assert (again.email, again.name) == ('a@y.org', 'Alice')


async def test_first_logins_racing_find_one_user(database_url: str) -> None:
    databases = [Database(database_url) for _ in range(2)]
    await databases[0].prepare_schema()
    stores = [ConversationStore(database, EventBus()) for database in databases]
    for n in range(5):
        users = await asyncio.gather(*(store.upsert_user('oidc', f'person-{n}') for store in stores))
        assert users[0].id == users[1].id
    for database in databases:
        await database.close()


async def test_writers_of_one_process_take_turns_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chatapp import db as db_module
    monkeypatch.setattr(db_module, 'SQLITE_BUSY_TIMEOUT_MS', 0)  # any collision would fail at once
    database = Database(f'sqlite+aiosqlite:///{tmp_path / "turns.db"}')
    await database.prepare_schema()
    store = ConversationStore(database, EventBus())
    try:
        alice = await store.upsert_user('test', 'alice')
        conversations = await asyncio.gather(*(make_conversation(database, alice.id, f'q{n}') for n in range(20)))
        exchanges = await asyncio.gather(*(store.add_exchange(alice.id, c.id, 'q', 'm', 'i') for c in conversations))
        await asyncio.gather(*(store.save_reply(alice.id, reply.id, 'done', Status.COMPLETE)
                               for _, reply in exchanges))
        assert len(await store.list_conversations(alice.id)) == 20
    finally:
        await database.close()


async def test_a_first_message_starts_its_conversation_in_the_same_transaction(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    question, reply = await store.add_exchange(alice.id, None, '# Plan the offsite\nin May', 'm', 'instance-a')
    [conversation] = await store.list_conversations(alice.id)
    assert conversation.id == question.conversation_id == reply.conversation_id
    assert conversation.title == 'Plan the offsite'
    assert question.id < reply.id
    with pytest.raises(Busy):  # claimed for its reply like any other exchange
        await store.add_exchange(alice.id, conversation.id, 'again', 'm', 'instance-b')
