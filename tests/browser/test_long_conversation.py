"""A long conversation in a real browser: it opens at its newest page, earlier pages come as the person scrolls up
without moving what they read, a link to a message deep in the past opens there, and scrolling down from there
comes back to the end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from chatapp.db import Database
from chatapp.engine.views import MAX_SHOWN, PAGE_MESSAGES
from chatapp.services import LOCAL_PROVIDER
from tests.support.chat import open_chat, replies
from tests.support.databases import run_async
from tests.support.factories import find_user, make_long_conversation
from tests.support.servers import App

pytestmark = pytest.mark.browser
EXCHANGES = 300
ROWS = '[data-testid=messages] > [data-message-id]'
FIRST_IN_SIGHT = '(rows) => rows.find((row) => row.getBoundingClientRect().bottom > 60).dataset.messageId'


async def seed(path: Path) -> tuple[str, list[int]]:
    database = Database(f'sqlite+aiosqlite:///{path}')
    try:
        user = await find_user(database, LOCAL_PROVIDER)
        conversation, ids = await make_long_conversation(database, user.id, EXCHANGES, title='A long talk')
    finally:
        await database.close()
    return conversation.id, ids


@pytest.fixture
def long_conversation(page: Page, app_server: App) -> tuple[str, list[int]]:
    open_chat(page)  # the local user exists once a page was opened
    return run_async(seed(app_server.database))


def shown_ids(page: Page) -> list[int]:
    return [int(i) for i in page.locator(ROWS).evaluate_all('(rows) => rows.map((r) => r.dataset.messageId)')]


def test_scrolling_up_shows_earlier_pages_without_moving_what_is_read(page: Page,
                                                                      long_conversation: tuple[str, list[int]]) -> None:
    conversation_id, ids = long_conversation
    page.goto(f'/c/{conversation_id}')
    expect(replies(page).last).to_contain_text(f'Reply {EXCHANGES - 1}')
    expect(replies(page).last).to_be_in_viewport()
    expect(page.locator(ROWS)).to_have_count(PAGE_MESSAGES)  # not the whole conversation
    assert shown_ids(page) == ids[-PAGE_MESSAGES:]

    while page.locator(ROWS).count() == PAGE_MESSAGES:  # up towards the top edge: the page before comes
        read = page.locator(ROWS).evaluate_all(FIRST_IN_SIGHT)
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(100)
    expect(page.locator(ROWS)).to_have_count(2 * PAGE_MESSAGES)
    page.wait_for_timeout(300)
    # what was read stays on the screen, with the page before above it (without holding the place it would
    # be pushed down by the height of thirty messages)
    expect(page.locator(f'[data-message-id="{read}"]')).to_be_in_viewport()
    assert page.evaluate('window.scrollY') > 1000
    assert shown_ids(page) == ids[-2 * PAGE_MESSAGES:]

    for _ in range(40):  # on up to the first question
        if page.get_by_text('Question 0', exact=True).count():
            break
        page.mouse.wheel(0, -4000)
        page.wait_for_timeout(150)
    expect(page.get_by_text('Question 0', exact=True)).to_be_visible()
    shown = shown_ids(page)
    assert len(shown) <= MAX_SHOWN and shown == ids[:len(shown)]  # in order, none twice, the newest let go
    expect(page.get_by_test_id('later')).to_be_attached()
    expect(page.get_by_test_id('earlier')).to_be_hidden()


def test_a_link_to_a_deep_message_opens_there_and_scrolling_down_comes_back_to_the_end(
        page: Page, long_conversation: tuple[str, list[int]]) -> None:
    conversation_id, ids = long_conversation
    deep = ids[201]  # Reply 100
    page.goto(f'/c/{conversation_id}?m={deep}')
    target = page.locator(f'[data-message-id="{deep}"]')
    expect(target).to_contain_text('Reply 100')
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile(r'\bsearch-hit\b'))  # lit up for a moment
    page.wait_for_timeout(500)  # the page before comes too (the target is near the top edge)
    expect(target).to_be_in_viewport()  # and does not move it away
    assert len(shown_ids(page)) <= 2 * PAGE_MESSAGES
    for _ in range(80):
        if page.get_by_text(f'Reply {EXCHANGES - 1}:').count():
            break
        page.mouse.wheel(0, 4000)
        page.wait_for_timeout(150)
    expect(replies(page).last).to_contain_text(f'Reply {EXCHANGES - 1}')
    shown = shown_ids(page)
    assert len(shown) <= MAX_SHOWN and shown == ids[-len(shown):]
    expect(page.get_by_test_id('later')).to_be_hidden()
