"""A long conversation is read and shown a page at a time: the newest page when it opens, the page around a message
a link points at, earlier and later pages as the person scrolls, and never more than MAX_SHOWN messages on a page.
Replies stored without their HTML are rendered once and kept."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from chatapp.db import Database
from chatapp.engine import Change, ConversationView, Earlier, Ended, ReplyEngine, Shown, Trimmed
from chatapp.engine.views import MAX_SHOWN, PAGE_MESSAGES
from chatapp.events import EventBus
from chatapp.llm.prompt import build_prompt
from chatapp.models import Message, Role
from chatapp.settings import Settings
from chatapp.store import ConversationStore
from tests.integration.test_conversation_view import until
from tests.support.engines import reply_engine
from tests.support.factories import long_reply, make_long_conversation
from tests.support.servers import LLMock

EXCHANGES = 400  # 800 messages


@pytest.fixture
async def engine(database_url: str, llmock: LLMock) -> AsyncIterator[ReplyEngine]:
    database = Database(database_url)
    await database.prepare_schema()
    bus = EventBus()
    settings = Settings(openai_base_url=llmock.base_url + '/v1', openai_api_key='test', llm_max_retries=0,
                        llm_timeout=5.0)
    engine = reply_engine(ConversationStore(database, bus), bus, settings)
    yield engine
    await engine.shutdown()
    await database.close()


class Page:
    """What a page that applies a view's changes shows: the ids of its rows, in order."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.changes: list[Change] = []

    def apply(self, change: Change) -> None:
        self.changes.append(change)
        if isinstance(change, Shown):
            self.ids[change.keep:] = [shown.message.id for shown in change.messages]
        elif isinstance(change, Earlier):
            self.ids[:0] = [shown.message.id for shown in change.messages]
        elif isinstance(change, Trimmed):
            self.ids = self.ids[change.top:len(self.ids) - change.bottom]


async def opened(engine: ReplyEngine, user_id: str, conversation_id: str,
                 reveal: int | None = None) -> tuple[ConversationView, Page]:
    view, page = ConversationView(engine, user_id, conversation_id), Page()
    assert await view.load(reveal)
    await view.follow(page.apply)
    return view, page


async def test_a_long_conversation_opens_at_its_newest_page_and_shows_earlier_ones_as_asked(
        engine: ReplyEngine) -> None:
    alice = await engine.store.upsert_user('test', 'alice')
    conversation, ids = await make_long_conversation(engine.store.db, alice.id, EXCHANGES)
    view, page = await opened(engine, alice.id, conversation.id)
    assert page.ids == ids[-PAGE_MESSAGES:]
    assert view.has_earlier and not view.has_later
    assert sum(view.unshown_lengths()) == sum(len(f'Question {n}') + len(long_reply(n)) for n in range(EXCHANGES)) \
        - sum(len(shown.text) for shown in page.changes[0].messages)  # the gauge counts the whole branch
    while len(page.ids) + PAGE_MESSAGES <= MAX_SHOWN:
        assert await view.show_earlier()
        assert page.ids == ids[-len(page.ids):]  # older ones above, in order
    assert await view.show_earlier()  # one page more than a page may hold: the newest ones go
    assert len(page.ids) == MAX_SHOWN and isinstance(page.changes[-1], Trimmed) and page.changes[-1].bottom > 0
    assert page.ids == ids[ids.index(page.ids[0]):][:MAX_SHOWN]  # one stretch, in order
    assert view.has_later
    while view.has_earlier:
        assert await view.show_earlier()
    assert page.ids == ids[:MAX_SHOWN] and not await view.show_earlier()
    while view.has_later:  # and back down to the end
        assert await view.show_later()
        assert len(page.ids) <= MAX_SHOWN and page.ids == ids[ids.index(page.ids[0]):][:len(page.ids)]
    assert page.ids == ids[-MAX_SHOWN:]
    view.close()


async def test_a_page_opened_at_a_message_deep_in_the_past_shows_its_page_and_follows_once_at_the_end(
        engine: ReplyEngine, llmock: LLMock) -> None:
    alice = await engine.store.upsert_user('test', 'alice')
    conversation, ids = await make_long_conversation(engine.store.db, alice.id, EXCHANGES)
    deep = ids[101]
    view, page = await opened(engine, alice.id, conversation.id, reveal=deep)
    assert deep in page.ids and page.ids[0] < deep and len(page.ids) == PAGE_MESSAGES
    assert view.has_earlier and view.has_later
    llmock.reply('A new reply.')
    other = ConversationView(engine, alice.id, conversation.id)  # another tab, at the end, sends
    assert await other.load()
    await other.follow(lambda change: None)
    await other.send('A new question')
    await until(lambda: not engine.is_busy(conversation.id))
    assert page.ids[-1] < ids[-1]  # the stretch shown stays where the person reads
    while view.has_later:
        assert await view.show_later()
    questions = await engine.store.list_messages(alice.id, conversation.id)
    assert page.ids[-2:] == [m.id for m in questions[-2:]]  # the end, with what was sent meanwhile
    llmock.reply('Another reply.')
    await other.send('One more')  # now shown as it comes
    await until(lambda: any(isinstance(c, Ended) for c in page.changes))
    assert len(page.ids) <= MAX_SHOWN
    assert [m.id for m in (await engine.store.list_messages(alice.id, conversation.id))[-2:]] == page.ids[-2:]
    view.close()
    other.close()


async def test_a_page_opened_at_a_message_near_the_end_shows_the_newest_page(engine: ReplyEngine) -> None:
    alice = await engine.store.upsert_user('test', 'alice')
    conversation, ids = await make_long_conversation(engine.store.db, alice.id, EXCHANGES)
    view, page = await opened(engine, alice.id, conversation.id, reveal=ids[-10])
    assert page.ids == ids[-PAGE_MESSAGES:] and not view.has_later
    view.close()


async def test_replies_stored_without_html_are_rendered_once_and_kept(engine: ReplyEngine) -> None:
    alice = await engine.store.upsert_user('test', 'alice')
    conversation, _ = await make_long_conversation(engine.store.db, alice.id, EXCHANGES, html=False)
    view, page = await opened(engine, alice.id, conversation.id)
    shown = [s for s in page.changes[0].messages if s.message.role == Role.ASSISTANT]
    assert all(s.message.html and '<strong>point</strong>' in s.message.html for s in shown)
    async with engine.store.db.session() as session:
        kept = {m.id: m.html for m in (await session.exec(select(Message).where(
            Message.conversation_id == conversation.id, Message.role == Role.ASSISTANT))).all()}
    assert all(kept[s.message.id] == s.message.html for s in shown)  # kept: the next open renders nothing
    assert sum(html is None for html in kept.values()) == EXCHANGES - len(shown)  # only what was shown
    view.close()


async def test_switching_to_another_version_shows_its_branch_where_the_page_is(engine: ReplyEngine,
                                                                               llmock: LLMock) -> None:
    alice = await engine.store.upsert_user('test', 'alice')
    conversation, ids = await make_long_conversation(engine.store.db, alice.id, EXCHANGES)
    view, page = await opened(engine, alice.id, conversation.id)
    llmock.reply('Another take.')
    await view.regenerate(ids[-1])
    await until(lambda: any(isinstance(c, Ended) for c in page.changes))
    newest = page.ids[-1]
    assert newest != ids[-1] and page.ids[:-1] == ids[-PAGE_MESSAGES:-1]
    await view.show_sibling(ids[-1])  # back to the first version
    assert page.ids == ids[-PAGE_MESSAGES:]
    view.close()


@pytest.mark.parametrize('budget', [60, 2_000, 1_000_000])
async def test_a_reply_reads_only_the_newest_messages_its_prompt_can_hold(engine: ReplyEngine, budget: int) -> None:
    alice = await engine.store.upsert_user('test', 'alice')
    conversation, ids = await make_long_conversation(engine.store.db, alice.id, EXCHANGES)
    whole = await engine.store.read_prompt(alice.id, conversation.id, ids[-1])
    fitting = await engine.store.read_prompt(alice.id, conversation.id, ids[-1], budget=budget)
    assert whole is not None and fitting is not None and len(whole.messages) == len(ids)
    assert fitting.messages[-1].id == ids[-1]
    assert len(fitting.messages) == len(ids) if budget == 1_000_000 else len(fitting.messages) < len(ids) // 4
    assert build_prompt('Be brief.', fitting.messages, budget) == build_prompt('Be brief.', whole.messages, budget)
