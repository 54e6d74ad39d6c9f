"""Regenerate, edit and the "2 / 3" switcher in a real browser, against the app and llmock as processes:
nothing is lost, a reload and a second tab show the branch chosen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.support.chat import (
    open_chat,
    reload,
    replies,
    reply_md,
    send,
    send_new,
    user_bubbles,
    wait_finished,
)
from tests.support.servers import LLMock

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures('no_server_errors')]



def position(row: Locator) -> Locator:
    return row.locator('[data-testid=sibling-position]')


def finished_reply(page: Page, index: int, text: str) -> Locator:
    row = replies(page).nth(index)
    expect(reply_md(row)).to_have_text(text)
    wait_finished(row)
    return row


def test_regenerate_twice_and_flip_through_every_answer(page: Page, llm: LLMock) -> None:
    llm.reply('Answer one.')
    open_chat(page)
    send_new(page, 'Give me an answer')
    row = finished_reply(page, 0, 'Answer one.')
    expect(position(row)).to_have_count(0)  # one answer: no switcher

    for number in ('two', 'three'):
        llm.reply(f'Answer {number}.')
        replies(page).first.get_by_role('button', name='Regenerate').click()
        finished_reply(page, 0, f'Answer {number}.')
    expect(replies(page)).to_have_count(1)
    expect(position(replies(page).first)).to_have_text('3 / 3')

    for shown, text in (('2 / 3', 'Answer two.'), ('1 / 3', 'Answer one.')):
        replies(page).first.get_by_role('button', name='Previous version').click()
        expect(position(replies(page).first)).to_have_text(shown)
        expect(reply_md(replies(page).first)).to_have_text(text)
    expect(replies(page).first.get_by_role('button', name='Previous version')).to_be_disabled()

    reload(page)  # the choice is stored
    expect(position(replies(page).first)).to_have_text('1 / 3')
    expect(reply_md(replies(page).first)).to_have_text('Answer one.')
    replies(page).first.get_by_role('button', name='Next version').click()
    expect(reply_md(replies(page).first)).to_have_text('Answer two.')


def test_an_edit_in_the_middle_makes_a_branch_and_the_old_one_stays_whole(page: Page, llm: LLMock) -> None:
    llm.reply('First answer.')
    open_chat(page)
    send_new(page, 'First question')
    finished_reply(page, 0, 'First answer.')
    for number in ('Second', 'Third'):
        llm.reply(f'{number} answer.')
        send(page, f'{number} question')
        finished_reply(page, 1 if number == 'Second' else 2, f'{number} answer.')

    second = page.locator('.question-row').nth(1)
    second.get_by_role('button', name='Edit message').click()
    editor = page.locator('textarea[data-testid=edit-input]')
    expect(editor).to_have_value('Second question')
    editor.fill('Second question, put better')
    editor.press('Escape')  # Cancel leaves everything as it was
    expect(editor).to_have_count(0)
    expect(user_bubbles(page)).to_have_text(['First question', 'Second question', 'Third question'])

    second.get_by_role('button', name='Edit message').click()
    page.locator('textarea[data-testid=edit-input]').fill('   ')
    page.locator('[data-testid=edit-save]').click()  # the rules of a normal send apply
    expect(page.locator('.q-notification')).to_contain_text('empty')
    page.locator('textarea[data-testid=edit-input]').fill('Second question, put better')
    llm.reply('A better second answer.')
    page.locator('textarea[data-testid=edit-input]').press('Enter')
    expect(user_bubbles(page)).to_have_text(['First question', 'Second question, put better'])
    finished_reply(page, 1, 'A better second answer.')
    expect(position(page.locator('.question-row').nth(1))).to_have_text('2 / 2')
    prompt = llm.requests()[-1]['body']['messages']
    assert [m['content'] for m in prompt if m['role'] != 'system'] == \
        ['First question', 'First answer.', 'Second question, put better']

    page.locator('.question-row').nth(1).get_by_role('button', name='Previous version').click()
    expect(user_bubbles(page)).to_have_text(['First question', 'Second question', 'Third question'])
    expect(reply_md(replies(page))).to_have_text(['First answer.', 'Second answer.', 'Third answer.'])


def test_a_second_tab_follows_a_switch_and_a_new_answer(context: BrowserContext, page: Page, llm: LLMock) -> None:
    llm.reply('Old answer.')
    open_chat(page)
    conversation = send_new(page, 'Two tabs, two answers')
    finished_reply(page, 0, 'Old answer.')
    other = context.new_page()
    open_chat(other, f'/c/{conversation}')
    finished_reply(other, 0, 'Old answer.')

    llm.reply('New answer.')
    replies(page).first.get_by_role('button', name='Regenerate').click()
    finished_reply(other, 0, 'New answer.')  # streamed into the other tab too
    expect(position(replies(other).first)).to_have_text('2 / 2')

    replies(page).first.get_by_role('button', name='Previous version').click()
    expect(reply_md(replies(other).first)).to_have_text('Old answer.')
    expect(position(replies(other).first)).to_have_text('1 / 2')


def test_regenerate_while_the_model_fails_keeps_the_old_answer(page: Page, llm: LLMock) -> None:
    llm.reply('A good answer.')
    open_chat(page)
    send_new(page, 'Answer me twice')
    finished_reply(page, 0, 'A good answer.')
    llm.script({'type': 'fail', 'status': 500})
    replies(page).first.get_by_role('button', name='Regenerate').click()
    row = replies(page).first
    expect(row.locator('[data-testid=message-error]')).to_contain_text('HTTP 500')
    expect(position(row)).to_have_text('2 / 2')
    expect(row.locator('[data-testid=retry]')).to_be_visible()
    row.get_by_role('button', name='Previous version').click()
    expect(reply_md(replies(page).first)).to_have_text('A good answer.')
    expect(replies(page).first.locator('[data-testid=message-error]')).to_have_count(0)

    reload(page)  # the failed answer is kept as a sibling, with its error
    replies(page).first.get_by_role('button', name='Next version').click()
    expect(replies(page).first.locator('[data-testid=message-error]')).to_contain_text('HTTP 500')


def test_fork_opens_a_new_conversation_holding_the_path(page: Page, llm: LLMock) -> None:
    llm.reply('First answer.')
    open_chat(page)
    original = send_new(page, 'A question worth keeping')
    finished_reply(page, 0, 'First answer.')
    llm.reply('Second answer.')
    send(page, 'A second question')
    finished_reply(page, 1, 'Second answer.')

    replies(page).first.get_by_role('button', name='Start a new conversation from here').click()
    expect(page).not_to_have_url(re.compile(f'/c/{original}$'))
    expect(page).to_have_url(re.compile(r'/c/[0-9a-f-]{36}$'))
    expect(user_bubbles(page)).to_have_text(['A question worth keeping'])
    expect(reply_md(replies(page))).to_have_text(['First answer.'])
    note = page.locator('[data-testid=forked-from]')
    expect(note).to_contain_text('A question worth keeping')
    expect(page.locator('.conversation-item', has_text='A question worth keeping (fork)')).to_be_visible()

    llm.reply('The fork goes its own way.')
    send(page, 'Only in the fork')
    finished_reply(page, 1, 'The fork goes its own way.')
    prompt = llm.requests()[-1]['body']['messages']
    assert [m['content'] for m in prompt if m['role'] != 'system'] == \
        ['A question worth keeping', 'First answer.', 'Only in the fork']
    note.get_by_role('link').click()  # back to the original, untouched
    expect(user_bubbles(page)).to_have_text(['A question worth keeping', 'A second question'])


IME_ENTER_JS = '''(field) => {
  const enter = new KeyboardEvent("keydown", {key: "Enter", bubbles: true, cancelable: true});
  Object.defineProperty(enter, "keyCode", {get: () => 229});  // Safari, as Enter confirms a word
  field.dispatchEvent(enter);
}'''


def test_enter_that_confirms_an_ime_word_never_sends(page: Page, llm: LLMock) -> None:
    llm.reply('Answer.')
    open_chat(page)
    send_new(page, 'A first question')
    finished_reply(page, 0, 'Answer.')
    field = page.locator('textarea[data-testid=composer]')
    field.fill('你好')
    field.evaluate(IME_ENTER_JS)
    page.locator('.question-row').first.get_by_role('button', name='Edit message').click()
    editor = page.locator('textarea[data-testid=edit-input]')
    editor.fill('日本語')
    editor.evaluate(IME_ENTER_JS)
    page.wait_for_timeout(500)
    expect(field).to_have_value('你好')
    expect(editor).to_have_value('日本語')
    expect(user_bubbles(page)).to_have_text(['A first question'])
    assert len(llm.requests()) == 1
