"""The history sidebar in a real browser: rows drawn from the server's list, grouped by age in the browser's
own time zone, paged with Show more, opened by click or keyboard. This module has its own app, seeded
with more conversations than one page of the sidebar holds."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from chatapp.db import Database
from chatapp.models import utcnow
from chatapp.services import LOCAL_PROVIDER
from tests.support.chat import open_chat, sidebar_item
from tests.support.databases import run_async
from tests.support.factories import find_user, make_conversation
from tests.support.servers import App

pytestmark = pytest.mark.browser

SEEDED = {'Today': 3, 'Yesterday': 2, 'Previous 7 days': 4, 'Older': 51}  # 60: more than a page of 50
AGES = {'Today': timedelta(seconds=1), 'Yesterday': timedelta(days=1), 'Previous 7 days': timedelta(days=4),
        'Older': timedelta(days=30)}
ACTIVE = re.compile(r'\bactive\b')


@pytest.fixture(scope='module')
def seeded(app_server: App) -> dict[str, list[str]]:
    """Conversations of the local user written straight into the app's database, newest first per group."""
    return run_async(seed(app_server.database))


async def seed(path: Path) -> dict[str, list[str]]:
    database = Database(f'sqlite+aiosqlite:///{path}')
    try:
        user = await find_user(database, LOCAL_PROVIDER)
        now = utcnow()
        titles: dict[str, list[str]] = {}
        for group, count in SEEDED.items():
            titles[group] = [f'{group} #{number}' for number in range(count)]
            for number, title in enumerate(titles[group]):
                at = now - AGES[group] - timedelta(seconds=number)  # 'Today' holds unless run at midnight
                await make_conversation(database, user.id, title, at=at)
    finally:
        await database.close()
    return titles


def rows(page: Page) -> Locator:
    return page.locator('[data-testid=conversation-item]')


def titles(page: Page) -> list[str]:
    return rows(page).locator('.conversation-title').all_inner_texts()


def test_rows_are_grouped_by_age_and_paged(page: Page, seeded: dict[str, list[str]]) -> None:
    open_chat(page)
    expect(rows(page)).to_have_count(50)
    order = [title for group in SEEDED for title in seeded[group]]
    assert titles(page)[:10] == order[:10]
    groups = page.locator('[data-testid=conversation-list] > :not([data-testid=conversation-item])')
    expect(groups).to_have_text(list(SEEDED))

    page.locator('[data-testid=show-more]').click()
    expect(rows(page)).to_have_count(60)
    assert titles(page) == order
    expect(page.locator('[data-testid=show-more]')).to_have_count(0)


def test_a_row_opens_by_click_and_by_keyboard(page: Page, seeded: dict[str, list[str]]) -> None:
    open_chat(page)
    first = rows(page).filter(has_text=seeded['Today'][0])
    first.click()
    page.wait_for_url('**/c/*')
    conversation_id = page.url.rsplit('/', 1)[1]
    expect(sidebar_item(page, conversation_id)).to_have_class(ACTIVE)
    expect(rows(page).and_(page.locator('.active'))).to_have_count(1)

    second = rows(page).filter(has_text=seeded['Yesterday'][0])
    second.focus()
    page.keyboard.press('Enter')
    expect(second).to_have_class(ACTIVE)
    assert page.url.rsplit('/', 1)[1] == second.get_attribute('data-id')
    expect(rows(page).and_(page.locator('.active'))).to_have_count(1)


@pytest.mark.parametrize('zone', ['Europe/Berlin', 'Pacific/Kiritimati'])
def test_age_groups_follow_the_browsers_calendar(browser: Browser, app_server: App, zone: str) -> None:
    context = browser.new_context(base_url=app_server.url, timezone_id=zone)
    try:
        page = context.new_page()
        open_chat(page)
        group = '(args) => window.chatappAgeGroup(new Date(...args[0]).getTime(), new Date(...args[1]))'
        cases = [  # (then, now) as local calendar times, month 2 = March; Berlin moves clocks on 29 March 2026
            ([2026, 2, 29, 0, 5], [2026, 2, 29, 23, 55], 'Today'),
            ([2026, 2, 28, 23, 55], [2026, 2, 29, 0, 5], 'Yesterday'),
            ([2026, 2, 28, 12, 0], [2026, 2, 29, 12, 0], 'Yesterday'),  # 23 hours in Berlin
            ([2026, 2, 22, 0, 0], [2026, 2, 29, 23, 0], 'Previous 7 days'),
            ([2026, 2, 21, 23, 0], [2026, 2, 29, 1, 0], 'Older'),
            ([2026, 2, 30, 9, 0], [2026, 2, 29, 9, 0], 'Today'),  # a clock running ahead of the browser's
        ]
        for then, now, expected in cases:
            assert page.evaluate(group, [then, now]) == expected, (zone, then, now)
    finally:
        context.close()


@pytest.mark.parametrize(('width', 'open_at_first'), [(1280, True), (390, False)])
def test_the_history_drawer_opens_on_a_wide_window_and_toggles(browser: Browser, app_server: App, width: int,
                                                               open_at_first: bool) -> None:
    context = browser.new_context(base_url=app_server.url, viewport={'width': width, 'height': 800})
    try:
        page = context.new_page()
        open_chat(page)
        new_chat = page.locator('[data-testid=new-chat]')
        toggle = page.get_by_label('Toggle history')
        for expected in (open_at_first, not open_at_first, open_at_first):
            # wholly in view: the drawer has finished sliding in (a toggle while it slides can be lost under load)
            # (the toggle goes through the server: under load its round trip can take seconds)
            if expected:
                expect(new_chat).to_be_in_viewport(ratio=1, timeout=10_000)
            else:
                expect(new_chat).not_to_be_in_viewport(timeout=10_000)
            if expected and not open_at_first:
                page.mouse.click(width - 10, 400)  # a phone's open drawer covers the page: a tap beside it closes it
            else:
                toggle.click()
    finally:
        context.close()


def test_the_header_stays_one_line_on_a_phone(browser: Browser, app_server: App) -> None:
    context = browser.new_context(base_url=app_server.url, viewport={'width': 360, 'height': 700})
    try:
        page = context.new_page()
        open_chat(page)
        header = page.locator('.app-header').bounding_box()
        marker = page.locator('[data-testid=local-mode]').bounding_box()
        assert header is not None and marker is not None
        assert header['height'] < 60  # one row: it wrapped to two before
        assert marker['x'] + marker['width'] <= 360 and marker['y'] < header['height']
    finally:
        context.close()
