"""Search in a real browser: Ctrl+K goes to the field, results show a snippet with the match marked and their
date, and Enter or a click opens the conversation at the message that holds the text, lit up for a moment."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.support.chat import long_reply, open_chat, replies, send, send_new, sidebar_item, wait_finished
from tests.support.servers import LLMock

pytestmark = pytest.mark.browser
HIT = re.compile(r'\bsearch-hit\b')


def test_a_result_opens_its_conversation_at_the_message_that_holds_the_text(page: Page, llm: LLMock) -> None:
    word = f'zanzibar{uuid.uuid4().hex[:6]}'
    open_chat(page)
    llm.reply(f'The depot is in {word.title()}, by the harbour.\n\n' + long_reply(150))
    found_id = send_new(page, 'Where is the depot?')
    wait_finished(replies(page).last)
    for turn in range(3):  # the reply that holds the word ends up far above the end of the conversation
        llm.reply(long_reply(200))
        send(page, f'And then, part {turn}?')
        wait_finished(replies(page).nth(turn + 1))
    open_chat(page)  # another page: a new chat

    page.keyboard.press('Control+k')
    search = page.locator('input[data-testid=search]')
    expect(search).to_be_focused()
    search.fill(word.upper()[:-1])  # any case, part of a word
    result = sidebar_item(page, found_id)
    expect(page.get_by_test_id('conversation-item')).to_have_count(1)
    expect(result.locator('mark')).to_have_text(word.title()[:-1])  # the match as written
    expect(result.get_by_test_id('search-snippet')).to_contain_text('The depot is in')

    search.press('Enter')  # the first result
    page.wait_for_url(re.compile(rf'/c/{found_id}\?m=\d+$'))
    target = replies(page).first
    expect(target).to_have_class(HIT)  # lit up, and in view, though the conversation goes on far below it
    expect(target).to_be_in_viewport()
    expect(replies(page).last).not_to_be_in_viewport()
    expect(target).not_to_have_class(HIT, timeout=6_000)  # for a moment

    page.keyboard.press('Control+k')
    page.locator('input[data-testid=search]').fill('part 2?')
    expect(sidebar_item(page, found_id).locator('mark')).to_have_text('part 2?')
    sidebar_item(page, found_id).click()
    expect(page.locator('.question-row.search-hit')).to_contain_text('And then, part 2?')


def test_a_forged_or_foreign_message_in_the_address_opens_the_conversation_as_usual(page: Page,
                                                                                       llm: LLMock) -> None:
    open_chat(page)
    llm.reply('An answer.')
    conversation_id = send_new(page, 'A question')
    wait_finished(replies(page).last)
    for m in ('999999999', 'abc', '-1', '1' * 40):
        page.goto(f'/c/{conversation_id}?m={m}')
        expect(replies(page)).to_have_count(1)
        expect(page.locator('.search-hit')).to_have_count(0)
