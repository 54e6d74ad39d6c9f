"""UI flows through NiceGUI's simulated User (no JavaScript; the real browser tests cover the page itself)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from nicegui import ElementFilter, app, ui
from nicegui.testing import User

from tests.support.factories import make_conversation


def replies(user: User, *, finished: bool = False) -> list[str]:
    from chatapp.components.reply_view import ReplyView
    with user:
        return [view.text for view in ElementFilter(kind=ReplyView) if not (finished and view.streaming)]


async def wait_for_reply(user: User, expected: str, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not any(expected in text for text in replies(user, finished=True)):
            await asyncio.sleep(0.05)


async def test_new_chat_streams_a_demo_reply_and_lists_the_conversation(user: User) -> None:
    await user.open('/')
    await user.should_see('How can I help?')
    await user.should_see('Demo mode')
    user.find('composer').type('Plan a team offsite')
    user.find('send').click()
    await user.should_see('Plan a team offsite')  # the question bubble and the sidebar title
    await wait_for_reply(user, 'Any OpenAI-compatible endpoint works')
    assert 'Plan a team offsite' in replies(user)[0]
    assert user.find('composer').elements.pop().value == ''


async def test_conversation_reopens_with_its_messages(user: User) -> None:
    await user.open('/')
    user.find('composer').type('Remember this question')
    user.find('send').click()
    await wait_for_reply(user, 'offline demo model')
    services = app.state.services
    conversations = await services.store.list_conversations(services.local_user.id)
    await user.open(f'/c/{conversations[0].id}')
    await user.should_see('Remember this question')
    assert any('offline demo model' in text for text in replies(user))


async def test_too_long_message_is_refused_and_kept(user: User) -> None:
    await user.open('/')
    text = 'x' * 201
    user.find('composer').type(text)
    user.find('send').click()
    await user.should_see('the limit is 200')
    assert user.find('composer').elements.pop().value == text
    await user.should_see('No conversations yet.')


async def test_blank_message_is_not_sent(user: User) -> None:
    await user.open('/')
    user.find('composer').type('   \n  ')
    user.find('send').click()
    await asyncio.sleep(0.2)
    await user.should_see('How can I help?')
    await user.should_see('No conversations yet.')


async def test_unknown_conversation_shows_not_found(user: User) -> None:
    await user.open(f'/c/{uuid.uuid4()}')
    await user.should_see('Conversation not found')
    await user.should_not_see(kind=ui.textarea)


def sidebar_rows(user: User) -> tuple[dict, ...]:
    from chatapp.components.conversation_list import ConversationList
    with user:
        (rows,) = ElementFilter(kind=ConversationList)
        return rows.props['rows']


async def send_and_wait(user: User, question: str) -> None:
    user.find('composer').type(question)
    user.find('send').click()
    await wait_for_reply(user, 'offline demo model')


async def test_sidebar_lists_and_searches(user: User) -> None:
    await user.open('/')
    await send_and_wait(user, 'Quarterly numbers')
    await asyncio.sleep(0.4)  # the sidebar reloads after a change
    (row,) = sidebar_rows(user)
    assert row['title'] == 'Quarterly numbers'
    assert abs(row['at'] / 1000 - time.time()) < 60  # when it last changed: the browser groups by age
    assert 'found' not in row  # a list, not search results
    user.find('search').type('NUMBERS')
    async with asyncio.timeout(5):
        while 'found' not in sidebar_rows(user)[0]:
            await asyncio.sleep(0.05)
    (found,) = sidebar_rows(user)  # the demo reply quotes the question: a snippet of it, the match as written
    before, match, _ = found['found']
    assert match == 'numbers' and before.endswith('> Quarterly ')
    user.find('search').clear()
    user.find('search').type('no such thing')
    await user.should_see('No matching conversations.')
    assert not sidebar_rows(user)


async def test_a_search_too_long_is_refused_in_words(user: User) -> None:
    from chatapp.pages.sidebar import MAX_SEARCH_CHARS
    await user.open('/')
    await send_and_wait(user, 'Quarterly numbers')
    await asyncio.sleep(0.4)
    user.find('search').type('x' * (MAX_SEARCH_CHARS + 1))
    await user.should_see(f'Search for at most {MAX_SEARCH_CHARS} characters.')
    assert [row['title'] for row in sidebar_rows(user)] == ['Quarterly numbers']  # the list stays as it was


async def test_the_sidebar_is_one_element_whatever_its_length(user: User) -> None:
    from chatapp.components.conversation_list import ConversationList
    for question in ('First topic', 'Second topic'):
        await user.open('/')
        await send_and_wait(user, question)
    await user.open('/')
    await user.should_see('New chat')
    with user:
        (rows,) = ElementFilter(kind=ConversationList)
    assert [row['title'] for row in rows.props['rows']] == ['Second topic', 'First topic']

    await send_and_wait(user, 'Third topic')
    await asyncio.sleep(0.4)  # the sidebar reloads after a change
    assert [row['title'] for row in rows.props['rows']] == ['Third topic', 'Second topic', 'First topic']
    assert rows.props['active'] == sidebar_rows(user)[0]['id']  # the page moved to the new conversation
    assert rows.parent_slot is not None and rows.parent_slot.children == [rows]  # no element per row


async def test_sidebars_reloading_together_share_one_query(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from chatapp.pages.sidebar import list_once
    services = app.state.services
    await user.open('/')
    store = services.store
    calls: list[str] = []
    real = store.shelves

    async def counted(user_id: str, **kwargs: object) -> object:
        calls.append(user_id)
        await asyncio.sleep(0.05)
        return await real(user_id, **kwargs)

    monkeypatch.setattr(store, 'shelves', counted)
    user_id = services.local_user.id
    heard = time.monotonic()
    await asyncio.gather(*(list_once(store, user_id, 50, changed_at=heard) for _ in range(5)))
    assert len(calls) == 1
    first = asyncio.ensure_future(list_once(store, user_id, 50, changed_at=heard))
    await asyncio.sleep(0.01)
    await list_once(store, user_id, 50, changed_at=time.monotonic())  # a change heard after that query began
    await first
    assert len(calls) == 3


async def test_a_burst_of_changes_reloads_a_sidebar_about_once_a_second(user: User,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from chatapp.components.conversation_list import ConversationList
    from chatapp.events import ConversationChanged, user_topic
    from chatapp.pages.sidebar import RELOAD_INTERVAL_SECONDS
    services = app.state.services
    await user.open('/')
    await user.should_see('No conversations yet.')
    reloads: list[float] = []
    real = ConversationList.show

    def counted(self: ConversationList, *args: object, **kwargs: object) -> None:
        reloads.append(time.monotonic())
        real(self, *args, **kwargs)

    monkeypatch.setattr(ConversationList, 'show', counted)
    store, user_id = services.store, services.local_user.id
    start = time.monotonic()
    for _ in range(40):  # 3 s of changes, as when one person's 20 tabs send at once
        services.bus.publish(user_topic(user_id), ConversationChanged(user_id, 'elsewhere'))
        await asyncio.sleep(0.07)
    last = await make_conversation(store.db, user_id, 'The last change')
    services.bus.publish(user_topic(user_id), ConversationChanged(user_id, last.id))  # as the store's writes do
    burst = time.monotonic() - start
    async with asyncio.timeout(5):  # the list ends up current
        while [row['title'] for row in sidebar_rows(user)] != ['The last change']:
            await asyncio.sleep(0.05)
    assert 2 <= len(reloads) <= burst / RELOAD_INTERVAL_SECONDS + 2  # was one per 0.3-0.4 s: 8 or more


async def test_a_new_conversation_reaches_the_list_once_already_marked(user: User,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from chatapp.components.conversation_list import ConversationList
    services = app.state.services
    await user.open('/')
    await make_conversation(services.store.db, services.local_user.id, 'An older topic')
    await user.open('/')
    assert [row['title'] for row in sidebar_rows(user)] == ['An older topic']
    with user:
        (this_page,) = ElementFilter(kind=ConversationList)
    sent_lists: list[tuple[str, tuple[str, ...]]] = []
    real = ConversationList.update

    def recorded(self: ConversationList) -> None:
        if self is this_page:  # the first page is still open, and hears of the change too
            sent_lists.append((self.props['active'], tuple(row['title'] for row in self.props['rows'])))
        real(self)

    monkeypatch.setattr(ConversationList, 'update', recorded)
    user.find('composer').type('A new topic')
    user.find('send').click()
    await user.should_see('A new topic')
    async with asyncio.timeout(5):
        while not sent_lists:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    new_id = next(row['id'] for row in sidebar_rows(user) if row['title'] == 'A new topic')
    # not the old list with a mark on no row, then the new one: each redraw costs every open tab
    assert sent_lists == [(new_id, ('A new topic', 'An older topic'))]


async def test_start_up_calms_the_garbage_collector(user: User) -> None:
    import gc

    from chatapp.app import GC_YOUNG_OBJECTS
    await user.open('/')
    assert gc.get_threshold()[0] == GC_YOUNG_OBJECTS  # not every 700 allocations: each collection pauses replies
    assert gc.get_freeze_count() > 10_000  # start-up's objects (modules, classes) are never scanned again
