"""What a page sees of a conversation: a snapshot, then every change in order; a view fills in text it
missed from the live text on the bus, or from the database when the reply has ended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from chatapp.db import Database
from chatapp.engine import Change, ConversationView, Ended, Grew, ReplyEngine, Shown
from chatapp.events import EventBus, ReplyDelta, ReplyFinished, ReplyStarted, conversation_topic
from chatapp.models import Role, Status
from chatapp.settings import Settings
from chatapp.store import Claim, ConversationStore
from tests.support.engines import reply_engine
from tests.support.factories import make_conversation
from tests.support.servers import LLMock

REPLY = ' '.join(f'word{n}' for n in range(200))
LONG_REPLY = ' '.join(f'word{n}' for n in range(1000))  # streams for seconds


class OtherInstanceBus(EventBus):
    """An in-process bus that also knows the live text of replies 'another instance' writes."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, str] = {}

    async def live_text(self, message_id: int) -> str | None:
        await asyncio.sleep(0)  # an await, as over Redis: deltas may arrive meanwhile
        return self.live.get(message_id)


@pytest.fixture
async def engine(tmp_path: Path, llmock: LLMock) -> AsyncIterator[ReplyEngine]:
    database = Database(f'sqlite+aiosqlite:///{tmp_path / "v.db"}')
    await database.prepare_schema()
    bus = OtherInstanceBus()
    store = ConversationStore(database, bus)
    settings = Settings(openai_base_url=llmock.base_url + '/v1', openai_api_key='test', llm_max_retries=0,
                        llm_timeout=5.0)
    engine = reply_engine(store, bus, settings)
    yield engine
    await engine.shutdown()
    await database.close()


async def until(condition: Callable[[], bool], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def text_of(changes: list[Change], message_id: int) -> str:
    """What a page that applied `changes` shows of the reply."""
    text = ''
    for change in changes:
        if isinstance(change, Shown):
            text += ''.join(s.text for s in change.messages if s.message.id == message_id)
        elif isinstance(change, Grew) and change.message_id == message_id:
            text += change.text
    return text


async def test_a_new_conversation_shows_the_question_then_the_reply_as_it_grows(engine: ReplyEngine,
                                                                                llmock: LLMock) -> None:
    llmock.reply(REPLY)
    alice = await engine.store.upsert_user('test', 'alice')
    view = ConversationView(engine, alice.id, None)
    changes: list[Change] = []
    assert await view.load()
    await view.follow(changes.append)
    assert changes == [] and not view.busy

    await view.send('hello')
    first = changes[0]
    assert isinstance(first, Shown)
    assert [s.message.role for s in first.messages] == [Role.USER, Role.ASSISTANT]
    assert first.messages[1].streaming and view.busy
    reply_id = first.messages[1].message.id
    await until(lambda: isinstance(changes[-1], Ended))

    assert text_of(changes, reply_id) == REPLY
    assert sum(isinstance(c, Grew) for c in changes) > 1, 'the reply arrives in pieces'
    ended = changes[-1]
    assert isinstance(ended, Ended) and (ended.message_id, ended.status, ended.error) == (reply_id, Status.COMPLETE, '')
    assert ended.usage is not None and ended.usage.completion_tokens  # for the line under the reply
    assert not view.busy
    view.close()


async def test_a_view_opened_mid_reply_starts_from_the_live_text(engine: ReplyEngine, llmock: LLMock) -> None:
    llmock.reply(LONG_REPLY)
    alice = await engine.store.upsert_user('test', 'alice')
    sent = await engine.send(alice.id, None, 'hello')
    live = engine.live_reply(sent.conversation_id)
    await until(lambda: live is not None and len(live.published_text) > 20)

    view = ConversationView(engine, alice.id, sent.conversation_id)
    changes: list[Change] = []
    assert await view.load()
    await view.follow(changes.append)
    snapshot = changes[0]
    assert isinstance(snapshot, Shown) and snapshot.messages[1].streaming
    assert snapshot.messages[1].text, 'what was written so far is shown at once'
    await until(lambda: bool(changes) and isinstance(changes[-1], Ended))
    assert text_of(changes, sent.reply.id) == LONG_REPLY
    view.close()


async def test_another_persons_conversation_is_not_found(engine: ReplyEngine) -> None:
    alice = await engine.store.upsert_user('test', 'alice')
    bob = await engine.store.upsert_user('test', 'bob')
    conversation = await make_conversation(engine.store.db, alice.id, 'mine')
    assert not await ConversationView(engine, bob.id, conversation.id).load()
    assert not await ConversationView(engine, alice.id, 'no-such-id').load()


async def test_a_reply_written_elsewhere_is_caught_up_across_gaps_and_at_its_end(engine: ReplyEngine) -> None:
    bus = engine.bus
    assert isinstance(bus, OtherInstanceBus)
    alice = await engine.store.upsert_user('test', 'alice')
    stored = await engine.store.add_exchange(alice.id, None, 'hello', 'm', 'another-instance')
    assert stored is not None
    question, reply = stored
    assert reply.id is not None
    cid, topic = question.conversation_id, conversation_topic(question.conversation_id)
    bus.live[reply.id] = 'Hello wor'

    view = ConversationView(engine, alice.id, cid)
    changes: list[Change] = []
    assert await view.load()
    await view.follow(changes.append)
    assert view.busy, 'a reply streams, even though another instance writes it'
    await until(lambda: text_of(changes, reply.id) == 'Hello wor')

    bus.publish(topic, ReplyDelta(cid, reply.id, 'ld', 9))
    bus.publish(topic, ReplyDelta(cid, reply.id, 'world', 6))  # again, in part: nothing is shown twice
    assert text_of(changes, reply.id) == 'Hello world'

    bus.live[reply.id] = 'Hello world, and more'
    bus.publish(topic, ReplyDelta(cid, reply.id, ' more', 16))  # ', and' was missed: a gap
    await until(lambda: text_of(changes, reply.id) == 'Hello world, and more')

    final = 'Hello world, and more at the end.'
    await engine.store.save_reply(alice.id, reply.id, final, Status.COMPLETE, claim=Claim(cid, 'another-instance'))
    bus.publish(topic, ReplyFinished(cid, reply.id, Status.COMPLETE, '', len(final)))  # the end was missed
    await until(lambda: isinstance(changes[-1], Ended))
    assert text_of(changes, reply.id) == final
    assert changes[-1] == Ended(reply.id, Status.COMPLETE, '') and not view.busy

    again = await engine.store.add_sibling_reply(alice.id, cid, reply.id, 'm', 'another-instance')
    assert again is not None and again.id is not None
    bus.live[again.id] = ''
    bus.publish(topic, ReplyStarted(cid, again.id, 'm'))  # regenerated elsewhere: shown in the old one's place
    await until(lambda: isinstance(changes[-1], Shown))
    regenerated = changes[-1]
    assert isinstance(regenerated, Shown) and regenerated.keep == 1
    assert [(s.message.id, s.streaming, s.siblings) for s in regenerated.messages] == \
        [(again.id, True, [reply.id, again.id])]
    assert view.busy
    view.close()
    bus.publish(topic, ReplyDelta(cid, again.id, 'after close', 0))
    assert changes[-1] is regenerated, 'a closed view hands on nothing'


async def test_a_message_sent_in_another_tab_appears(engine: ReplyEngine, llmock: LLMock) -> None:
    llmock.reply('first')
    alice = await engine.store.upsert_user('test', 'alice')
    sent = await engine.send(alice.id, None, 'one')
    await until(lambda: not engine.is_busy(sent.conversation_id))

    view = ConversationView(engine, alice.id, sent.conversation_id)
    changes: list[Change] = []
    assert await view.load()
    await view.follow(changes.append)
    llmock.reply('second')
    other_tab = ConversationView(engine, alice.id, sent.conversation_id)
    assert await other_tab.load()
    await other_tab.follow(lambda change: None)
    await other_tab.send('two')
    await until(lambda: isinstance(changes[-1], Ended))
    shown = [s.message.content for c in changes if isinstance(c, Shown) for s in c.messages]
    assert shown[:3] == ['one', 'first', 'two']
    assert text_of(changes, max(s.message.id for c in changes if isinstance(c, Shown) for s in c.messages)) \
        == 'second'
    view.close()
    other_tab.close()



async def test_a_page_that_closes_while_its_first_message_is_stored_leaves_no_subscription(
        engine: ReplyEngine, llmock: LLMock) -> None:
    llmock.reply('fine')
    alice = await engine.store.upsert_user('test', 'alice')
    view = ConversationView(engine, alice.id, None)
    changes: list[Change] = []
    await view.follow(changes.append)
    before = engine.bus.subscriber_count()
    sending = asyncio.create_task(view.send('hello'))
    await asyncio.sleep(0)  # the send is on its way to the database
    view.close()
    await sending
    assert view.conversation_id is not None
    await until(lambda: not engine.is_busy(view.conversation_id or ''))
    assert engine.bus.subscriber_count() == before
    assert changes == []


async def test_a_message_shown_that_gains_a_sibling_unseen_is_shown_again(engine: ReplyEngine) -> None:
    alice = await engine.store.upsert_user('test', 'alice')
    question, reply = await engine.store.add_exchange(alice.id, None, 'hello', 'm', 'i1')
    cid = question.conversation_id
    await engine.store.save_reply(alice.id, reply.id, 'one', Status.COMPLETE, claim=Claim(cid, 'i1'))
    view = ConversationView(engine, alice.id, cid)
    changes: list[Change] = []
    assert await view.load()
    await view.follow(changes.append)
    again = await engine.store.add_sibling_reply(alice.id, cid, reply.id, 'm', 'i1')  # no event: unseen
    assert again is not None
    await engine.store.show_branch(alice.id, cid, reply.id)  # back to the reply the view shows
    await until(lambda: len(changes) == 2)
    assert isinstance(changes[1], Shown) and changes[1].keep == 1
    assert [(s.message.id, s.siblings) for s in changes[1].messages] == [(reply.id, [reply.id, again.id])]
    view.close()
