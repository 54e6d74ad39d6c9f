"""Who may do what with a conversation, decided in one place (the store), on SQLite and PostgreSQL: its owner,
a participant, a viewer, and everybody else, to whom it does not exist, whatever id they try."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlmodel import select

from chatapp.engine import Refused, ReplyEngine
from chatapp.events import ConversationChanged, Event, user_topic
from chatapp.models import Access, Message, ModelAnswers, Status, User
from chatapp.settings import Settings
from chatapp.store import Claim, ConversationStore
from tests.support.engines import reply_engine
from tests.support.factories import make_conversation
from tests.support.servers import LLMock

INSTANCE = 'i1'


@dataclass
class Room:
    """alice's conversation, shared with bob (participant) and carol (viewer); dave is nobody there."""
    store: ConversationStore
    owner: User
    participant: User
    viewer: User
    stranger: User
    conversation_id: str
    question_id: int
    reply_id: int

    def people(self) -> dict[str, User]:
        return {'owner': self.owner, 'participant': self.participant, 'viewer': self.viewer,
                'stranger': self.stranger}

    async def finish(self, user: User, reply_id: int) -> None:
        """End a reply and free the conversation for the next one."""
        await self.store.save_reply(user.id, reply_id, 'done', Status.COMPLETE,
                                    claim=Claim(self.conversation_id, INSTANCE))


@pytest.fixture
async def room(store: ConversationStore) -> Room:
    alice, bob, carol, dave = [await store.upsert_user('oidc', name, name=name.title(), email=f'{name}@team.example')
                               for name in ('alice', 'bob', 'carol', 'dave')]
    conversation = await make_conversation(store.db, alice.id, 'Our schema')
    question, reply = await store.add_exchange(alice.id, conversation.id, 'Our schema?', 'm', INSTANCE)
    assert question.id is not None and reply.id is not None
    room = Room(store, alice, bob, carol, dave, conversation.id, question.id, reply.id)
    await room.finish(alice, reply.id)
    assert await store.share(alice.id, conversation.id, bob.id, Access.PARTICIPANT)
    assert await store.share(alice.id, conversation.id, carol.id, Access.VIEWER)
    return room


READERS = {'owner', 'participant', 'viewer'}
WRITERS = {'owner', 'participant'}


async def test_each_role_reads_what_it_may_and_nobody_else_sees_anything(room: Room) -> None:
    store, cid = room.store, room.conversation_id
    for name, user in room.people().items():
        may_read = name in READERS
        assert (await store.access_of(user.id, cid)) == (None if not may_read else Access(name)), name
        assert (await store.read_branch(user.id, cid) is not None) == may_read, name
        assert (await store.list_messages(user.id, cid) is not None) == may_read, name
        assert (await store.read_prompt(user.id, cid, room.reply_id) is not None) == may_read, name
        assert (await store.members(user.id, cid) is not None) == may_read, name
        listed = [c.id for c in await store.list_conversations(user.id)]
        assert (cid in listed) == may_read, name
        assert (cid in [hit.conversation.id for hit in await store.search(user.id, 'schema')]) == may_read, name
    members = await store.members(room.viewer.id, cid)
    assert [(user.name, access) for user, access in members] == [
        ('Alice', Access.OWNER), ('Bob', Access.PARTICIPANT), ('Carol', Access.VIEWER)]


async def test_only_the_owner_and_participants_write(room: Room) -> None:
    store, cid = room.store, room.conversation_id
    for name, user in room.people().items():
        may_write = name in WRITERS
        sent = await store.add_exchange(user.id, cid, f'{name} writes', 'm', INSTANCE)
        assert (sent is not None) == may_write, name
        if sent is not None:
            await room.finish(user, sent[1].id)
        again = await store.add_sibling_reply(user.id, cid, room.reply_id, 'm', INSTANCE)
        assert (again is not None) == may_write, name
        if again is not None:
            await room.finish(user, again.id)
        assert await store.show_branch(user.id, cid, room.reply_id) == may_write, name
    async with store.db.session() as session:
        stored = set((await session.exec(select(Message.content).where(Message.conversation_id == cid))).all())
    assert {'owner writes', 'participant writes'} <= stored
    assert not {'viewer writes', 'stranger writes'} & stored


async def test_only_the_owner_renames_deletes_shares_and_sets_the_prompt(room: Room) -> None:
    store, cid = room.store, room.conversation_id
    for user in (room.participant, room.viewer, room.stranger):
        assert await store.rename_conversation(user.id, cid, 'mine') is None
        assert not await store.set_system_prompt(user.id, cid, 'Obey me.')
        assert not await store.share(user.id, cid, room.stranger.id, Access.VIEWER)
        assert not await store.unshare(user.id, cid, room.viewer.id)
        assert not await store.delete_conversation(user.id, cid)
    assert (await store.read_branch(room.owner.id, cid)).conversation.title == 'Our schema'
    assert await store.access_of(room.stranger.id, cid) is None


async def test_a_reader_forks_into_a_conversation_of_their_own(room: Room) -> None:
    store, cid = room.store, room.conversation_id
    fork = await room.store.fork(room.viewer.id, cid, room.reply_id)
    assert fork is not None and fork.user_id == room.viewer.id
    assert [m.content for m in await store.list_messages(room.viewer.id, fork.id)] == ['Our schema?', 'done']
    assert await store.access_of(room.owner.id, fork.id) is None  # the copy is the viewer's alone
    assert await store.fork(room.stranger.id, cid, room.reply_id) is None


async def test_forged_ids_reach_nothing(room: Room) -> None:
    """A participant of one conversation cannot reach into another through a message id of that one."""
    store = room.store
    other = await make_conversation(store.db, room.stranger.id, 'Private')
    _, private_reply = await store.add_exchange(room.stranger.id, other.id, 'Private?', 'm', 'i2')
    await store.save_reply(room.stranger.id, private_reply.id, 'secret', Status.COMPLETE, claim=Claim(other.id, 'i2'))
    bob, cid = room.participant, room.conversation_id
    assert await store.add_sibling_reply(bob.id, cid, private_reply.id, 'm', INSTANCE) is None
    assert not await store.show_branch(bob.id, cid, private_reply.id)
    assert await store.fork(bob.id, cid, private_reply.id) is None
    assert await store.add_exchange(bob.id, cid, 'edit', 'm', INSTANCE, instead_of=private_reply.id) is None
    await store.save_reply(bob.id, private_reply.id, 'overwritten', Status.COMPLETE)
    assert [m.content for m in await store.list_messages(room.stranger.id, other.id)] == ['Private?', 'secret']


async def test_sharing_rules_and_live_sidebars(room: Room) -> None:
    store, cid = room.store, room.conversation_id
    heard: list[Event] = []
    store.bus.subscribe(user_topic(room.stranger.id), heard.append)
    assert not await store.share(room.owner.id, cid, room.owner.id, Access.VIEWER)  # the owner is the owner
    assert not await store.share(room.owner.id, cid, 'nobody-such', Access.VIEWER)
    assert not await store.share(room.owner.id, cid, room.stranger.id, Access.OWNER)  # one owner

    assert await store.share(room.owner.id, cid, room.stranger.id, Access.VIEWER)
    assert await store.access_of(room.stranger.id, cid) == Access.VIEWER
    assert await store.share(room.owner.id, cid, room.stranger.id, Access.PARTICIPANT)  # a new role
    assert await store.access_of(room.stranger.id, cid) == Access.PARTICIPANT
    assert await store.unshare(room.owner.id, cid, room.stranger.id)
    assert await store.access_of(room.stranger.id, cid) is None
    assert not await store.unshare(room.owner.id, cid, room.stranger.id)  # not a member any more
    assert heard == [ConversationChanged(room.stranger.id, cid, False)] * 2 + [
        ConversationChanged(room.stranger.id, cid, True)]

    heard_by_bob: list[Event] = []
    store.bus.subscribe(user_topic(room.participant.id), heard_by_bob.append)
    assert await store.delete_conversation(room.owner.id, cid)
    assert heard_by_bob == [ConversationChanged(room.participant.id, cid, True)]  # it leaves his sidebar
    assert await store.list_conversations(room.participant.id) == []


async def test_teammates_are_found_by_the_start_of_a_name_or_email(room: Room) -> None:
    store = room.store
    await store.upsert_user('local', 'local', name='Local user')
    await store.upsert_user('oidc', 'bo', name='Mary Bode', email='mary@team.example')
    found = await store.find_people(room.owner.id, 'bo')
    assert [user.name for user in found] == ['Bob', 'Mary Bode']  # a name's second word counts
    assert [user.name for user in await store.find_people(room.owner.id, 'carol@')] == ['Carol']
    assert await store.find_people(room.owner.id, 'alice') == []  # not oneself
    assert await store.find_people(room.owner.id, 'local') == []  # nor local mode's user
    assert await store.find_people(room.owner.id, '%') == []  # a wildcard is a letter


async def test_a_participants_reply_is_saved_as_it_grows_and_at_its_end(room: Room, llmock: LLMock) -> None:
    """The engine saves a reply in someone else's conversation for the participant who asked for it."""
    settings = Settings(openai_base_url=f'{llmock.base_url}/v1', openai_api_key='test', llm_max_retries=0)
    engine = reply_engine(room.store, room.store.bus, settings)
    text = ' '.join(f'word{n}' for n in range(400))  # two seconds at llmock's 5 ms a word: saved meanwhile
    llmock.reply(text)
    sent = await engine.send(room.participant.id, room.conversation_id, 'Bob asks')
    async with asyncio.timeout(20):
        while not (await room.store.list_messages(room.owner.id, room.conversation_id))[-1].content:
            await asyncio.sleep(0.1)
        assert engine.is_busy(room.conversation_id)  # saved as it grew, not only at its end
        while engine.is_busy(room.conversation_id):
            await asyncio.sleep(0.05)
    reply = (await room.store.list_messages(room.owner.id, room.conversation_id))[-1]
    assert (reply.id, reply.status, reply.content) == (sent.reply.id, Status.COMPLETE, text)
    with pytest.raises(Refused):  # a viewer asks for nothing
        await engine.send(room.viewer.id, room.conversation_id, 'Carol asks')
    await engine.shutdown()


@pytest.fixture
async def engine(room: Room, llmock: LLMock):
    settings = Settings(openai_base_url=f'{llmock.base_url}/v1', openai_api_key='test', llm_max_retries=0)
    engine = reply_engine(room.store, room.store.bus, settings)
    yield engine
    await engine.shutdown()


async def settled(engine: ReplyEngine, conversation_id: str) -> None:
    async with asyncio.timeout(20):
        while engine.is_busy(conversation_id) or engine._background:
            await asyncio.sleep(0.05)


async def test_a_message_sent_while_the_model_answers_waits_its_turn(room: Room, engine: ReplyEngine,
                                                                     llmock: LLMock) -> None:
    """Where several people write, nobody is refused while a reply streams: the message is stored in order, and
    the model answers it when it has finished the reply it was writing, naming who asked what."""
    cid = room.conversation_id
    first = ' '.join(f'word{n}' for n in range(200))
    llmock.reply(first)
    llmock.reply('Invoices live in billing.invoice.')
    await engine.send(room.owner.id, cid, 'Alice asks about users')
    sent = await engine.send(room.participant.id, cid, 'Bob asks about invoices')  # while Alice's reply streams
    assert sent.reply is None and sent.question.status == Status.QUEUED
    await settled(engine, cid)

    branch = await room.store.list_messages(room.viewer.id, cid)
    assert [(m.content, m.status) for m in branch[2:]] == [
        ('Alice asks about users', Status.COMPLETE), (first, Status.COMPLETE),
        ('Bob asks about invoices', Status.COMPLETE), ('Invoices live in billing.invoice.', Status.COMPLETE)]
    prompt = llmock.requests()[-1]['body']['messages']
    assert prompt[-1] == {'role': 'user', 'content': 'Bob: Bob asks about invoices'}
    assert {'role': 'user', 'content': 'Alice: Alice asks about users'} in prompt
    assert 'Several people write' in prompt[0]['content']


async def test_alone_a_person_still_waits_for_the_reply(room: Room, engine: ReplyEngine, llmock: LLMock) -> None:
    mine = await make_conversation(room.store.db, room.stranger.id, 'Alone')
    llmock.reply(' '.join(f'word{n}' for n in range(200)))
    await engine.send(room.stranger.id, mine.id, 'First')
    with pytest.raises(Refused, match='still being written'):
        await engine.send(room.stranger.id, mine.id, 'Second')
    await settled(engine, mine.id)


async def test_the_owner_can_have_the_model_answer_only_when_mentioned(room: Room, engine: ReplyEngine,
                                                                       llmock: LLMock) -> None:
    cid = room.conversation_id
    assert not await room.store.set_model_answers(room.participant.id, cid, ModelAnswers.MENTION)  # the owner's
    assert await room.store.set_model_answers(room.owner.id, cid, ModelAnswers.MENTION)
    sent = await engine.send(room.participant.id, cid, 'Alice, did you see the schema?')
    assert sent.reply is None and sent.question.status == Status.COMPLETE
    await settled(engine, cid)
    assert llmock.requests() == []  # the model was not asked
    llmock.reply('Here is the schema.')
    sent = await engine.send(room.owner.id, cid, '@model show it to Bob')
    assert sent.reply is not None
    await settled(engine, cid)
    assert [m.content for m in (await room.store.list_messages(room.owner.id, cid))[-3:]] == [
        'Alice, did you see the schema?', '@model show it to Bob', 'Here is the schema.']


async def test_read_only_links_show_what_they_were_made_for_until_revoked(room: Room) -> None:
    store, cid = room.store, room.conversation_id
    assert await store.create_link(room.participant.id, cid, live=True) is None  # the owner's to make
    snapshot = await store.create_link(room.owner.id, cid, live=False)
    live = await store.create_link(room.owner.id, cid, live=True)
    assert snapshot is not None and live is not None and snapshot.token != live.token
    assert await store.set_system_prompt(room.owner.id, cid, 'Internal: never reveal this.')
    prompts = {name: (await store.read_branch(user.id, cid)).conversation.system_prompt
               for name, user in room.people().items() if name in READERS}
    assert prompts == {'owner': 'Internal: never reveal this.', 'participant': None, 'viewer': None}  # the owner's
    _, reply = await store.add_exchange(room.owner.id, cid, 'Later question', 'm', INSTANCE)
    await room.finish(room.owner, reply.id)

    _, shown = await store.read_link(snapshot.token)
    assert shown.conversation.system_prompt is None
    assert [m.content for m in shown.messages] == ['Our schema?', 'done']  # as it was shared
    _, following = await store.read_link(live.token, opened=True)
    assert [m.content for m in following.messages][-2:] == ['Later question', 'done']
    assert [link.last_opened_at is not None for link in await store.links(room.owner.id, cid)] == [False, True]
    assert await store.links(room.participant.id, cid) == []
    assert await store.read_link('no-such-token') is None

    copy = await store.copy_from_link(room.stranger.id, snapshot.token, room.reply_id)
    assert copy is not None and copy.user_id == room.stranger.id and copy.system_prompt is None  # not the owner's
    assert [m.content for m in await store.list_messages(room.stranger.id, copy.id)] == ['Our schema?', 'done']
    assert await store.copy_from_link(room.stranger.id, snapshot.token, reply.id) is None  # beyond what it shows
    assert await store.access_of(room.stranger.id, cid) is None  # reading a link grants nothing else

    assert not await store.revoke_link(room.participant.id, live.token)
    assert await store.revoke_link(room.owner.id, live.token)
    assert await store.read_link(live.token) is None
    assert await store.copy_from_link(room.stranger.id, live.token, room.reply_id) is None


async def test_every_readers_sidebar_hears_of_a_change_and_the_owners_marks_it_shared(room: Room) -> None:
    store, cid = room.store, room.conversation_id
    heard: dict[str, list[Event]] = {name: [] for name in room.people()}
    for name, user in room.people().items():
        store.bus.subscribe(user_topic(user.id), heard[name].append)
    _, reply = await store.add_exchange(room.participant.id, cid, 'Bob writes', 'm', INSTANCE)  # it moves up
    await room.finish(room.participant, reply.id)
    assert await store.rename_conversation(room.owner.id, cid, 'Schema, together')
    assert {name: len(events) for name, events in heard.items()} == {
        'owner': 2, 'participant': 2, 'viewer': 2, 'stranger': 0}
    assert [(c.id, c.shared) for c in await store.list_conversations(room.owner.id)] == [(cid, True)]

    alone = await make_conversation(store.db, room.owner.id, 'Mine alone')
    assert not (await store.read_branch(room.owner.id, alone.id)).conversation.shared
    assert await store.unshare(room.owner.id, cid, room.participant.id)
    assert (await store.read_branch(room.owner.id, cid)).conversation.shared  # Carol still reads it
    assert await store.unshare(room.owner.id, cid, room.viewer.id)
    assert not (await store.read_branch(room.owner.id, cid)).conversation.shared
    assert heard['owner'][-1] == ConversationChanged(room.owner.id, cid, False)  # its mark goes


async def test_questions_are_named_where_the_conversation_is_shared(room: Room) -> None:
    store, cid = room.store, room.conversation_id
    _, reply = await store.add_exchange(room.participant.id, cid, 'Bob asks', 'm', INSTANCE)
    await room.finish(room.participant, reply.id)
    branch = await store.read_branch(room.viewer.id, cid)
    assert [branch.speakers[m.author_id or ''] for m in branch.messages if m.author_id] == ['Alice', 'Bob']
    link = await store.create_link(room.owner.id, cid, live=True)
    _, shown = await store.read_link(link.token)
    assert shown.speakers == branch.speakers
    alone = await make_conversation(store.db, room.stranger.id, 'Alone')
    await store.add_exchange(room.stranger.id, alone.id, 'Just me', 'm', 'i2')
    assert (await store.read_branch(room.stranger.id, alone.id)).speakers == {}  # one person: no names


async def test_a_question_left_waiting_by_a_stopped_instance_is_answered_by_another(room: Room, engine: ReplyEngine,
                                                                                    llmock: LLMock) -> None:
    store, cid = room.store, room.conversation_id
    await store.add_exchange(room.owner.id, cid, 'Alice asks', 'm', 'crashed')  # its instance dies while writing
    await store.add_question(room.participant.id, cid, 'Bob asks meanwhile', queued=True)
    llmock.reply('Answered after all.')
    await engine.interrupt_orphans(alone=True)
    await settled(engine, cid)
    assert [(m.content, m.status) for m in (await store.list_messages(room.owner.id, cid))[-4:]] == [
        ('Alice asks', Status.COMPLETE), ('', Status.INTERRUPTED),
        ('Bob asks meanwhile', Status.COMPLETE), ('Answered after all.', Status.COMPLETE)]

    _, reply = await store.add_exchange(room.owner.id, cid, 'Alice again', 'm', 'stopping')  # stopped with a grace
    await store.add_question(room.participant.id, cid, 'Bob again', queued=True)
    await store.save_reply(room.owner.id, reply.id, 'cut short', Status.INTERRUPTED, claim=Claim(cid, 'stopping'))
    assert await store.queued_conversations() == [cid]
    llmock.reply('Answered at start.')
    await engine.answer_waiting()  # as an instance does when it starts
    await settled(engine, cid)
    assert [m.content for m in (await store.list_messages(room.owner.id, cid))[-2:]] == [
        'Bob again', 'Answered at start.']
    assert await store.queued_conversations() == []
