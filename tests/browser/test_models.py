"""Several models in a real browser: the app reads a models file with two llmock endpoints (a and b) and one that
is down; the picker's choice reaches the right endpoint with the right model name (llmock's request journal),
the conversation's system prompt leads the prompt, presets start conversations, a model titles them, and the
usage line shows what the endpoint reported."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from llmock.simulation import estimate_tokens
from playwright.sync_api import Locator, Page, expect

from tests.support.chat import (
    composer,
    open_chat,
    open_item_menu,
    reload,
    replies,
    reply_md,
    send,
    send_new,
    sidebar_item,
    wait_finished,
)
from tests.support.net import free_port
from tests.support.servers import App, LLMock

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures('no_server_errors')]

TITLE_MODEL = 'title-writer'


def models_file(path: Path, a: LLMock, b: LLMock) -> Path:
    path.write_text(f'''
default_model = "a/fast"

[endpoints.a]
base_url = "{a.base_url}/v1"
api_key = "test"
discover = false

[endpoints.b]
base_url = "{b.base_url}/v1"
api_key_env = "CHATAPP_TEST_B_KEY"

[endpoints.down]
base_url = "http://127.0.0.1:{free_port()}/v1"
discover = false

[[models]]
name = "fast"
endpoint = "a"
label = "Fast model"
context_window = 8000
price_input = 1000
price_output = 2000

[[models]]
name = "strong"
endpoint = "b"
label = "Strong model"
context_window = 128000

[[models]]
name = "big"
endpoint = "down"
label = "Offline model"

[[models]]
name = "{TITLE_MODEL}"
endpoint = "a"
label = "Title writer"

[[presets]]
name = "Team reviewer"
model = "b/strong"
system_prompt = "You review code."
starters = ["Review my code"]
''')
    return path


@pytest.fixture(scope='module')
def second_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMock]:
    with LLMock(tmp_path_factory.mktemp('llmock-b')) as server:
        yield server


@pytest.fixture
def llm_b(second_server: LLMock) -> LLMock:
    return second_server.reset()


@pytest.fixture(scope='module')
def app_server(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMock, second_server: LLMock) -> Iterator[App]:
    """The app on endpoints a, b and one that is down; a model of a's titles new conversations."""
    root = tmp_path_factory.mktemp('chatapp')
    settings = {'CHATAPP_MODELS_FILE': str(models_file(root / 'models.toml', llm_server, second_server)),
                'CHATAPP_TITLE_MODEL': f'a/{TITLE_MODEL}', 'CHATAPP_TEST_B_KEY': 'key-of-b'}
    with App(root, llm_server, **settings) as app:
        yield app


def title_reply(llm: LLMock, text: str) -> None:
    """What the title model answers, whenever it is asked (only requests for it match)."""
    llm.script({'type': 'reply', 'text': text, 'match': {'model': TITLE_MODEL}})


def chat_requests(llm: LLMock) -> list[dict]:
    """The journal's chat requests, less those of the title model."""
    return [r for r in llm.requests() if r['path'].endswith('/chat/completions')
            and r['body']['model'] != TITLE_MODEL]


def pick(page: Page, label: str) -> None:
    page.get_by_test_id('model-picker').click()
    page.locator('[data-testid=model-option]').filter(has_text=label).click()
    expect(page.get_by_test_id('model-picker')).to_contain_text(label)


def usage(row: Locator) -> Locator:
    return row.get_by_test_id('reply-usage')


def stored_reply(app: App, conversation_id: str) -> sqlite3.Row:
    with sqlite3.connect(f'file:{app.database}?mode=ro', uri=True) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute('SELECT * FROM message WHERE conversation_id = ? AND role = ? ORDER BY id DESC',
                                  (conversation_id, 'assistant')).fetchone()


def test_the_picked_model_answers_and_is_named_on_its_reply(page: Page, llm: LLMock, llm_b: LLMock) -> None:
    title_reply(llm, 'Strong talk')
    open_chat(page)
    page.get_by_test_id('model-picker').click()
    offline = page.locator('[data-testid=model-option]').filter(has_text='Offline model')
    expect(offline).to_have_class(re.compile('disabled'))  # its endpoint does not answer: greyed, with the reason
    expect(offline).to_contain_text('cannot connect')
    page.keyboard.press('Escape')
    pick(page, 'Strong model')

    llm_b.reply('From the strong model.')
    send_new(page, 'Which model are you?')
    row = replies(page).first
    expect(reply_md(row)).to_have_text('From the strong model.')
    wait_finished(row)
    expect(usage(row)).to_contain_text('Strong model')
    [request] = chat_requests(llm_b)
    assert request['body']['model'] == 'strong'
    assert chat_requests(llm) == []  # endpoint a was not asked for the reply
    assert 'key-of-b' not in page.content()  # an endpoint's key reaches no browser

    reload(page)  # the conversation keeps its model
    expect(page.get_by_test_id('model-picker')).to_contain_text('Strong model')
    expect(usage(replies(page).first)).to_contain_text('Strong model')
    open_chat(page)  # and a new conversation starts with the person's last choice
    expect(page.get_by_test_id('model-picker')).to_contain_text('Strong model')


def test_no_key_reaches_the_log(app_server: App) -> None:
    assert 'key-of-b' not in app_server.log.text(since=0)


def test_the_usage_line_shows_what_the_endpoint_reported(page: Page, app_server: App, llm: LLMock) -> None:
    title_reply(llm, 'Usage')
    open_chat(page)
    pick(page, 'Fast model')
    llm.reply('Five words in this reply.')
    conversation_id = send_new(page, 'Count tokens')
    row = replies(page).first
    wait_finished(row)
    stored = stored_reply(app_server, conversation_id)
    completion = max(1, estimate_tokens('Five words in this reply.'))
    assert (stored['model'], stored['completion_tokens'], stored['usage_estimated']) == ('a/fast', completion, 0)
    cost = (stored['prompt_tokens'] * 1000 + completion * 2000) / 1e6
    expect(usage(row)).to_contain_text(f'Fast model · {stored["prompt_tokens"]} → {completion} tokens')
    expect(usage(row)).to_contain_text(f'${cost:.4f}')
    expect(page.get_by_test_id('context-gauge-text')).to_contain_text('/ 6k')  # 3/4 of the fast model's window


def test_the_conversations_system_prompt_leads_the_prompt(page: Page, llm: LLMock) -> None:
    title_reply(llm, 'Pirates')
    open_chat(page)
    pick(page, 'Fast model')
    llm.reply('Arr.')
    send_new(page, 'Hello')
    wait_finished(replies(page).first)
    assert chat_requests(llm)[-1]['body']['messages'][0]['content'].startswith('You are a helpful assistant')

    page.get_by_test_id('conversation-settings').click()
    prompt = page.get_by_test_id('system-prompt')
    expect(prompt).to_have_value(re.compile('^You are a helpful assistant'))  # the app's default
    prompt.fill('Answer like a pirate.')
    page.get_by_test_id('settings-save').click()
    expect(page.get_by_test_id('settings-dialog')).to_be_hidden()
    llm.reply('Arr, matey.')
    send(page, 'Hello again')
    wait_finished(replies(page).nth(1))
    messages = chat_requests(llm)[-1]['body']['messages']
    assert messages[0] == {'role': 'system', 'content': 'Answer like a pirate.'}
    assert messages[-1] == {'role': 'user', 'content': 'Hello again'}

    reload(page)
    page.get_by_test_id('conversation-settings').click()
    expect(page.get_by_test_id('system-prompt')).to_have_value('Answer like a pirate.')


def test_a_preset_made_in_the_app_starts_a_conversation_from_its_starter(page: Page, llm: LLMock,
                                                                         llm_b: LLMock) -> None:
    title_reply(llm, 'Bonjour')
    open_chat(page)
    expect(page.get_by_test_id('starter-card').filter(has_text='Review my code')).to_be_visible()  # the team's
    page.get_by_test_id('manage-presets').click()
    team = page.locator('[data-testid=preset-row]').filter(has_text='Team reviewer')
    expect(team).to_contain_text('Team')
    expect(team.get_by_test_id('preset-edit')).to_have_count(0)  # read-only
    page.get_by_test_id('preset-save').click()  # no name yet: refused in words
    expect(page.locator('.q-notification').filter(has_text='Give the preset a name')).to_be_visible()

    page.get_by_test_id('preset-name').fill('My translator')
    page.get_by_test_id('preset-model').click()
    page.locator('.q-menu .q-item').filter(has_text='Strong model').click()
    page.get_by_test_id('preset-prompt').fill('Translate into French.')
    page.get_by_test_id('preset-starters').fill('Good morning, everyone\nSee you tomorrow')
    page.get_by_test_id('preset-save').click()
    expect(page.locator('[data-testid=preset-row]').filter(has_text='My translator')).to_be_visible()
    page.get_by_test_id('preset-close').click()

    expect(page.get_by_test_id('preset-chip').filter(has_text='My translator')).to_be_visible()
    llm_b.reply('Bonjour à tous.')
    page.get_by_test_id('starter-card').filter(has_text='Good morning, everyone').click()
    row = replies(page).first
    expect(reply_md(row)).to_have_text('Bonjour à tous.')
    page.wait_for_url(re.compile(r'/c/'))
    [request] = chat_requests(llm_b)
    assert request['body']['model'] == 'strong'
    assert request['body']['messages'] == [{'role': 'system', 'content': 'Translate into French.'},
                                           {'role': 'user', 'content': 'Good morning, everyone'}]
    wait_finished(row)
    expect(usage(row)).to_contain_text('Strong model')


def test_a_model_titles_the_conversation_but_never_over_a_rename(page: Page, llm: LLMock) -> None:
    open_chat(page)
    pick(page, 'Fast model')
    title_reply(llm, '<think>They ask about trips.</think>\n"Weekend in Paris"')
    llm.reply('Go to the Louvre.')
    first = send_new(page, 'what should I do in paris this weekend')
    wait_finished(replies(page).first)
    expect(sidebar_item(page, first)).to_contain_text('Weekend in Paris')  # live, without a reload
    expect(sidebar_item(page, first)).not_to_contain_text('think')

    open_chat(page)
    pick(page, 'Fast model')
    title_reply(llm, 'A title nobody wants')
    llm.reply(' '.join(f'word{n}' for n in range(60)))  # long enough to rename it meanwhile
    second = send_new(page, 'tell me a long story')
    open_item_menu(page, second, 'Rename')
    rename = page.locator('input[data-testid=rename-input]')
    rename.fill('My own name')
    rename.press('Enter')
    wait_finished(replies(page).first)
    expect(sidebar_item(page, second)).to_contain_text('My own name')
    page.wait_for_timeout(1000)  # a title would have landed by now
    assert len([r for r in llm.requests() if r['body']['model'] == TITLE_MODEL]) == 1  # renamed: not even asked
    reload(page)
    expect(sidebar_item(page, second)).to_contain_text('My own name')
    expect(sidebar_item(page, first)).to_contain_text('Weekend in Paris')


def test_regenerate_with_another_model_keeps_the_conversations_model(page: Page, llm: LLMock,
                                                                    llm_b: LLMock) -> None:
    title_reply(llm, 'Two models')
    open_chat(page)
    pick(page, 'Fast model')
    llm.reply('Fast answer.')
    send_new(page, 'Compare yourselves')
    wait_finished(replies(page).first)

    llm_b.reply('Strong answer.')
    replies(page).first.get_by_test_id('regenerate-with').click()
    page.get_by_test_id('regenerate-dialog').locator('[data-testid=model-option]') \
        .filter(has_text='Strong model').click()
    row = replies(page).first
    expect(reply_md(row)).to_have_text('Strong answer.')
    wait_finished(row)
    expect(row.get_by_test_id('sibling-position')).to_have_text('2 / 2')
    expect(usage(row)).to_contain_text('Strong model')
    assert chat_requests(llm_b)[-1]['body']['model'] == 'strong'

    expect(page.get_by_test_id('model-picker')).to_contain_text('Fast model')
    llm.reply('Fast again.')
    send(page, 'And now?')
    wait_finished(replies(page).nth(1))
    assert chat_requests(llm)[-1]['body']['model'] == 'fast'
    expect(composer(page)).to_have_value('')
