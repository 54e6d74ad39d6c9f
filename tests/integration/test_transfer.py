"""Export and import through the store, on SQLite and PostgreSQL: only a reader may export a conversation (anyone
else is told it does not exist), an import keeps the tree, its dates and the branch shown, is found by search,
adds nothing when run again, and stores each conversation whole or not at all; our JSON goes round unchanged,
and the ZIP of everything streams a page at a time."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from itertools import pairwise

import pytest
from sqlmodel import col, func, select

from chatapp.events import Usage
from chatapp.models import Access, Conversation, Message, Status, TitleSource, utcnow
from chatapp.store import Claim, ConversationStore, Tree
from chatapp.transfer import chatgpt, export, native
from chatapp.transfer.imports import BadFile, ImportReport, import_file, rows
from tests.support.chatgpt_export import KYOTO_ID, KYOTO_SHOWN, KYOTO_TITLE, file_bytes, kyoto, sample, simple
from tests.support.factories import make_conversation

LIMIT = 10_000_000


async def answered(store: ConversationStore, user_id: str, conversation_id: str, question: str, answer: str, *,
                   instead_of: int | None = None) -> tuple[Message, Message]:
    asked, reply = await store.add_exchange(user_id, conversation_id, question, 'demo/m', 'i1', instead_of=instead_of)
    await store.save_reply(user_id, reply.id, answer, Status.COMPLETE, usage=Usage(10, 5, False, 120, 40.5, 0.002),
                           claim=Claim(conversation_id, 'i1'))
    return asked, reply


async def branched(store: ConversationStore, user_id: str) -> str:
    """A conversation with an edited question and a regenerated answer."""
    conversation = await make_conversation(store.db, user_id, 'Branches 分支')
    first, _ = await answered(store, user_id, conversation.id, 'First question', 'First answer')
    _, reply = await answered(store, user_id, conversation.id, 'Edited question 编辑', 'Answer to the edit',
                                   instead_of=first.id)
    again = await store.add_sibling_reply(user_id, conversation.id, reply.id, 'demo/other', 'i1')
    await store.save_reply(user_id, again.id, 'Regenerated answer', Status.STOPPED, 'Stopped by you.',
                           claim=Claim(conversation.id, 'i1'))
    await store.set_system_prompt(user_id, conversation.id, 'Answer in haiku.')
    return conversation.id


async def import_bytes(store: ConversationStore, user_id: str, data: bytes) -> ImportReport:
    return await import_file(store, user_id, io.BytesIO(data), LIMIT)


def shape(tree: Tree) -> list[tuple]:
    """A tree with its ids replaced by positions: comparable across databases and imports."""
    position = {m.id: n for n, m in enumerate(tree.messages)}
    return [(position.get(m.parent_id), m.role, m.content, m.status, m.error, m.model, m.prompt_tokens,
             m.completion_tokens, m.usage_estimated, m.first_token_ms, m.tokens_per_second, m.cost,
             native.iso(m.created_at)) for m in tree.messages]


async def test_only_readers_may_export_and_only_the_owner_sees_the_system_prompt(store: ConversationStore) -> None:
    alice, bob, carol = [await store.upsert_user('test', name, name=name.title()) for name in ('alice', 'bob', 'carol')]
    conversation_id = await branched(store, alice.id)
    assert await store.read_tree(bob.id, conversation_id) is None  # as for one that does not exist
    assert await store.read_tree(bob.id, 'no-such-conversation') is None
    mine = await store.read_tree(alice.id, conversation_id)
    assert mine is not None and mine.conversation.system_prompt == 'Answer in haiku.'
    assert len(mine.messages) == 5 and mine.authors[alice.id] == 'Alice'  # every branch
    assert await store.share(alice.id, conversation_id, carol.id, Access.VIEWER)
    theirs = await store.read_tree(carol.id, conversation_id)
    assert theirs is not None and theirs.conversation.system_prompt is None and shape(theirs) == shape(mine)
    assert (await store.read_tree(alice.id, conversation_id)).conversation.system_prompt == 'Answer in haiku.'
    assert await store.own_trees(carol.id) == []  # shared with her: not hers to take away whole


async def test_a_chatgpt_export_becomes_trees_with_their_dates_found_by_search(store: ConversationStore) -> None:
    alice, bob = await store.upsert_user('test', 'alice'), await store.upsert_user('test', 'bob')
    seen: list[tuple[int, int]] = []
    report = await import_file(store, alice.id, io.BytesIO(file_bytes(sample())), LIMIT,
                               lambda done, total: seen.append((done, total)))
    assert (report.total, len(report.imported), report.skipped) == (3, 2, 0)
    assert report.failed == [('“Broken one”', 'A message of it has no parts.')]
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    kyoto_id = next(cid for cid, title in report.imported if title == KYOTO_TITLE)

    branch = await store.read_branch(alice.id, kyoto_id)
    conversation = branch.conversation
    assert [m.content.replace('[image]\n\n', '') for m in branch.messages][:3] == KYOTO_SHOWN[:3]
    assert branch.messages[-1].content.startswith(KYOTO_SHOWN[3])
    assert (conversation.title, conversation.title_source, conversation.imported_from) == (
        KYOTO_TITLE, TitleSource.FINAL, f'chatgpt:{KYOTO_ID}')
    assert native.iso(conversation.created_at) == '2024-03-05T16:00:00Z'
    assert native.iso(conversation.updated_at) == '2024-03-05T17:00:00Z'
    assert native.iso(branch.messages[1].created_at) == '2024-03-05T16:00:50Z'
    assert {len(s) for s in branch.siblings.values()} == {2}  # the edit and the regeneration
    assert set(branch.siblings) == {branch.messages[0].id, branch.messages[1].id}
    assert all(m.status == Status.COMPLETE and m.html is None for m in branch.messages)
    assert branch.messages[1].model == 'gpt-4o' and branch.messages[0].author_id == alice.id
    tree = await store.read_tree(alice.id, kyoto_id)
    assert all(m.parent_id is None or m.parent_id < m.id for m in tree.messages)  # a parent is older
    assert [m.id for m in tree.messages] == sorted(m.id for m in tree.messages)
    assert [c.id for c in await store.list_conversations(alice.id)][-1] == kyoto_id  # by its own date: oldest

    for words in ('金閣寺', 'golden pavilion', 'Arashiyama', '京都で'):  # imported text is in the index
        assert [hit.conversation.id for hit in await store.search(alice.id, words)] == [kyoto_id], words
    assert await store.search(bob.id, '金閣寺') == []


async def test_importing_again_adds_nothing(store: ConversationStore) -> None:
    alice, bob = await store.upsert_user('test', 'alice'), await store.upsert_user('test', 'bob')
    await import_bytes(store, alice.id, file_bytes(sample()))
    again = await import_bytes(store, alice.id, file_bytes(sample()))
    assert (len(again.imported), again.skipped, again.failures) == (0, 2, 1)
    assert len(await store.list_conversations(alice.id)) == 2
    assert len((await import_bytes(store, bob.id, file_bytes(sample()))).imported) == 2  # his own copies


async def test_two_imports_of_one_conversation_at_once_store_it_once(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    data = file_bytes([kyoto()])
    reports = await asyncio.gather(*(import_bytes(store, alice.id, data) for _ in range(4)))
    assert sorted(len(r.imported) for r in reports) == [0, 0, 0, 1]
    async with store.db.session() as session:
        assert (await session.exec(select(func.count()).select_from(Message))).one() == 7


async def test_a_conversation_that_fails_midway_leaves_nothing_behind(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    conversation, messages, parents, leaf = rows(chatgpt.draft(kyoto()), alice.id)
    with pytest.raises(IndexError):  # a parent that is not there: raised after the conversation and its messages
        await store.import_conversation(alice.id, conversation, messages, [*parents[:-1], 99], leaf)
    async with store.db.session() as session:
        assert (await session.exec(select(func.count()).select_from(Conversation))).one() == 0
        assert (await session.exec(select(func.count()).select_from(Message))).one() == 0
    conversation, messages, parents, leaf = rows(chatgpt.draft(kyoto()), alice.id)
    assert await store.import_conversation(alice.id, conversation, messages, parents, leaf) is not None


async def test_a_bad_file_imports_nothing(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    truncated = file_bytes(sample())[:-40]
    with pytest.raises(BadFile, match=r'not valid JSON|ends before'):
        await import_bytes(store, alice.id, truncated)
    assert await store.list_conversations(alice.id) == []


async def test_our_json_comes_back_as_the_same_tree(store: ConversationStore) -> None:
    alice, bob = await store.upsert_user('test', 'alice'), await store.upsert_user('test', 'bob')
    conversation_id = await branched(store, alice.id)
    original = await store.read_tree(alice.id, conversation_id)
    data = export.json_bytes(original, utcnow())
    report = await import_bytes(store, bob.id, data)
    [(copy_id, title)] = report.imported
    copy = await store.read_tree(bob.id, copy_id)
    assert shape(copy) == shape(original) and title == 'Branches 分支'
    assert copy.conversation.system_prompt == 'Answer in haiku.'
    assert copy.conversation.model == original.conversation.model
    assert native.iso(copy.conversation.created_at) == native.iso(original.conversation.created_at)
    shown = [m.content for m in (await store.read_branch(bob.id, copy_id)).messages]
    assert shown == [m.content for m in (await store.read_branch(alice.id, conversation_id)).messages]
    assert shown == ['Edited question 编辑', 'Regenerated answer']
    assert (await import_bytes(store, alice.id, data)).skipped == 1  # her own, brought back: there already
    assert (await import_bytes(store, bob.id, data)).skipped == 1


async def test_all_data_streams_the_persons_own_conversations_a_page_at_a_time(store: ConversationStore) -> None:
    alice, bob = await store.upsert_user('test', 'alice', name='Alice'), await store.upsert_user('test', 'bob')
    mine = {await branched(store, alice.id)}
    for number in range(export.PAGE * 2 + 3):
        conversation = await make_conversation(store.db, alice.id, f'Chat {number}')
        await answered(store, alice.id, conversation.id, f'Question {number}', f'Answer {number}')
        mine.add(conversation.id)
    theirs = await branched(store, bob.id)
    assert await store.share(bob.id, theirs, alice.id, Access.PARTICIPANT)

    chunks = [chunk async for chunk in export.all_data(store, alice.id, 'Alice', utcnow())]
    assert len([c for c in chunks if c]) >= 4  # the README, each page, the end
    with zipfile.ZipFile(io.BytesIO(b''.join(chunks))) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        documents = [json.loads(archive.read(n)) for n in names if n.endswith('.json') and n != 'manifest.json']
        assert {d['id'] for d in documents} == mine  # not bob's, shared with her or not
        assert len([n for n in names if n.endswith('.md')]) == len(mine) + 1  # and the README
        assert json.loads(archive.read('manifest.json'))['conversations'] == len(mine)
        assert 'Alice' in archive.read('README.md').decode()
    report = await import_bytes(store, bob.id, b''.join(chunks))  # the ZIP imports as a whole
    assert (report.total, len(report.imported)) == (len(mine), len(mine))
    dates = [(d['updated_at'], d['id']) for d in documents]
    assert dates == sorted(dates, reverse=True)  # newest first, as read page by page


async def test_ids_of_an_imported_tree_follow_its_order(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    data = [simple(f'c{n}', f'Chat {n}', f'Question {n}', f'Answer {n}') for n in range(3)]
    await import_bytes(store, alice.id, file_bytes(data))
    async with store.db.session() as session:
        rows_ = (await session.exec(select(Message.id, Message.parent_id, Message.conversation_id)
                                    .order_by(col(Message.id)))).all()
    for (first, _, conversation), (second, parent, same) in pairwise(rows_):
        if conversation == same:
            assert parent == first < second
