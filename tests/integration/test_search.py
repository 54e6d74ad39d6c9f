"""Search over titles and message text, on SQLite (FTS5, trigram) and PostgreSQL (pg_trgm): scoped to what the
person may read, in any case, in Chinese as in English, kept in step with writes, with a snippet around the match."""

from __future__ import annotations

import pytest

from chatapp import search as search_module
from chatapp.models import Access, Status
from chatapp.store import Claim, ConversationStore, GrowingReply
from tests.support.factories import make_conversation


async def exchange(store: ConversationStore, user_id: str, title: str, question: str, answer: str) -> str:
    conversation = await make_conversation(store.db, user_id, title)
    _, reply = await store.add_exchange(user_id, conversation.id, question, 'm', 'i1')
    await store.save_reply(user_id, reply.id, answer, Status.COMPLETE, claim=Claim(conversation.id, 'i1'))
    return conversation.id


async def found(store: ConversationStore, user_id: str, query: str) -> list[str]:
    return [hit.conversation.id for hit in await store.search(user_id, query)]


async def test_each_person_finds_only_what_they_may_read(store: ConversationStore) -> None:
    alice, bob, carol = [await store.upsert_user('test', name) for name in ('alice', 'bob', 'carol')]
    alices = await exchange(store, alice.id, 'Budget', 'Where is the invoice table?', 'In billing.')
    bobs = await exchange(store, bob.id, 'Trips', 'Which invoice do I file for a trip?', 'The travel one.')
    assert await found(store, alice.id, 'INVOICE') == [alices]  # the same word, in any case: each their own
    assert await found(store, bob.id, 'invoice') == [bobs]
    assert await found(store, carol.id, 'invoice') == []
    assert await store.share(alice.id, alices, carol.id, Access.VIEWER)
    assert await found(store, carol.id, 'invoice') == [alices]  # shared with her: found too
    assert await found(store, carol.id, 'travel') == []


async def test_a_hit_names_its_newest_message_with_a_snippet(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    long_answer = 'Some context first. ' * 10 + 'The ledger keeps refunds\nin a table of their own. ' + 'More. ' * 30
    cid = await exchange(store, alice.id, 'Money', 'Where do refunds go?', long_answer)
    [hit] = await store.search(alice.id, 'KEEPS REFUNDS')
    messages = await store.list_messages(alice.id, cid)
    assert hit.message_id == messages[1].id  # the newest message that holds it
    before, match, after = hit.snippet
    assert match == 'keeps refunds' and before.startswith('…') and before.endswith('The ledger ')
    assert after.startswith(' in a table of their own.') and after.endswith('…')  # on one line
    [by_title] = await store.search(alice.id, 'mone')
    assert (by_title.message_id, by_title.snippet) == (None, None)  # only its title holds it


async def test_chinese_and_japanese_text_is_found_without_spaces(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    chinese = await exchange(store, alice.id, '表结构', '我们的数据库表结构是什么？', '发票保存在账单表中。')
    japanese = await exchange(store, alice.id, '質問', '請求書のテーブルはどこですか', '請求テーブルにあります。')
    assert await found(store, alice.id, '数据库') == [chinese]
    assert await found(store, alice.id, '账单') == [chinese]  # two characters: looked for row by row
    assert await found(store, alice.id, 'テーブル') == [japanese]
    [hit] = await store.search(alice.id, '数据库')
    assert hit.snippet == ('我们的', '数据库', '表结构是什么？')


async def test_the_index_follows_every_write(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    conversation = await make_conversation(store.db, alice.id, 'Plans')
    question, reply = await store.add_exchange(alice.id, conversation.id, 'Tell me about zebras', 'm', 'i1')
    await store.save_growing('i1', [GrowingReply(alice.id, conversation.id, reply.id, 'Okapis are shy')])
    assert await found(store, alice.id, 'okapi') == []  # a reply being written is found once it ends
    await store.save_reply(alice.id, reply.id, 'Okapis are shy relatives', Status.COMPLETE,
                           claim=Claim(conversation.id, 'i1'))
    assert await found(store, alice.id, 'okapi') == [conversation.id]

    again = await store.add_sibling_reply(alice.id, conversation.id, reply.id, 'm', 'i1')  # regenerated
    await store.save_reply(alice.id, again.id, 'Giraffes are tall', Status.COMPLETE, claim=Claim(conversation.id, 'i1'))
    assert await found(store, alice.id, 'giraffe') == [conversation.id]
    _, edit_reply = await store.add_exchange(alice.id, conversation.id, 'Tell me about lions', 'm', 'i1',
                                             instead_of=question.id)
    await store.save_reply(alice.id, edit_reply.id, 'Lions roar', Status.STOPPED, claim=Claim(conversation.id, 'i1'))
    assert await found(store, alice.id, 'lions roar') == [conversation.id]  # a stopped reply keeps what it said
    assert await store.delete_conversation(alice.id, conversation.id)
    for word in ('zebras', 'okapi', 'giraffe', 'lions'):
        assert await found(store, alice.id, word) == [], word


async def test_text_found_everywhere_is_looked_for_in_the_newest_conversations_first(
        store: ConversationStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, 'FEW_MATCHES', 3)  # so the word below counts as everywhere
    alice, bob = await store.upsert_user('test', 'alice'), await store.upsert_user('test', 'bob')
    mine = [await exchange(store, alice.id, f'Day {n}', f'the weather on day {n}', 'sunny') for n in range(4)]
    await exchange(store, bob.id, 'Bob', 'the weather for bob', 'rain')
    assert await found(store, alice.id, 'weather') == mine[::-1]
    assert await found(store, alice.id, '100%') == []
    assert (await store.search(alice.id, 'WEATHER ON DAY 2'))[0].snippet[1] == 'weather on day 2'


async def test_literal_characters_and_blank_queries(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    tax = await exchange(store, alice.id, 'Taxes', 'What is 100% deductible?', 'Half of "it", said_the_clerk')
    for query in ('100%', '%', '0% d', '"it"', 'said_the', '_the', 'D*'):
        assert await found(store, alice.id, query) == ([tax] if query != 'D*' else []), query
    assert await found(store, alice.id, '_axes') == []
    assert await store.search(alice.id, '   ') == []
