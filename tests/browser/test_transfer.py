"""Export and import in a real browser: a conversation downloads as Markdown and as JSON from its page, all data as
a ZIP from the account menu; ChatGPT's export imports through the dialog (progress, a summary, the conversation
opening on its current branch with its edits and regenerations to switch between), again without duplicates, and a
file that is no export is refused with what is wrong. With logins: the downloads need one, and another person's
conversation is not found."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Download, Page, expect

from tests.support.chat import open_chat, replies, send_new, sidebar_item, user_bubbles, wait_finished
from tests.support.chatgpt_export import KYOTO_SHOWN, KYOTO_TITLE, file_bytes, sample
from tests.support.oidc import log_in
from tests.support.servers import App, LLMock

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures('no_server_errors')]



def downloaded(page: Page, *clicks: str) -> Download:
    with page.expect_download() as download:
        for testid in clicks:
            page.get_by_test_id(testid).click()
    return download.value


def content(download: Download) -> bytes:
    return Path(download.path()).read_bytes()


def import_file(page: Page, path: Path) -> None:
    page.get_by_test_id('local-mode').click()
    page.get_by_test_id('import-open').click()
    expect(page.get_by_test_id('import-dialog')).to_be_visible()
    page.locator('[data-testid=import-upload] input[type=file]').set_input_files(str(path))


def test_a_conversation_and_all_data_download_from_the_page(page: Page, llm: LLMock) -> None:
    open_chat(page)
    llm.reply('Take the **night train** to 札幌.')
    conversation_id = send_new(page, 'How do I get to Sapporo?')
    wait_finished(replies(page).last)

    markdown = downloaded(page, 'export-button', 'export-md')
    assert markdown.suggested_filename == 'How do I get to Sapporo.md'
    text = content(markdown).decode()
    assert text.startswith('# How do I get to Sapporo?') and 'Take the **night train** to 札幌.' in text
    assert re.search(r'### Local user · \d{4}-\d\d-\d\d \d\d:\d\d UTC\n\nHow do I get to Sapporo\?', text)

    page.keyboard.press('Escape')
    data = json.loads(content(downloaded(page, 'export-button', 'export-json')))
    assert (data['format'], data['id'], data['leaf_id']) == ('chatapp.conversation', conversation_id,
                                                             data['messages'][-1]['id'])
    assert [(m['role'], m['content'], m['status']) for m in data['messages']] == [
        ('user', 'How do I get to Sapporo?', 'complete'),
        ('assistant', 'Take the **night train** to 札幌.', 'complete')]
    assert data['messages'][1]['completion_tokens'] and data['messages'][1]['created_at'].endswith('Z')

    everything = downloaded(page, 'local-mode', 'export-all')
    assert re.fullmatch(r'chatapp-export-\d{4}-\d\d-\d\d\.zip', everything.suggested_filename)
    with zipfile.ZipFile(io.BytesIO(content(everything))) as archive:
        assert archive.testzip() is None
        documents = [json.loads(archive.read(n)) for n in archive.namelist() if n.startswith('conversations/')
                     and n.endswith('.json')]
        assert conversation_id in {d['id'] for d in documents}
        assert {'README.md', 'manifest.json'} <= set(archive.namelist())


def test_a_chatgpt_export_imports_with_progress_and_opens_on_its_branch(page: Page, tmp_path: Path) -> None:
    export = tmp_path / 'conversations.json'
    export.write_bytes(file_bytes(sample()))
    open_chat(page)
    import_file(page, export)
    expect(page.get_by_test_id('import-progress')).to_have_text('3 of 3 conversations')
    expect(page.get_by_test_id('import-result')).to_have_text('Imported 2 of 3 conversations. 1 could not be imported.')
    expect(page.get_by_test_id('import-failure')).to_have_text(['“Broken one”: A message of it has no parts.'])
    links = page.get_by_test_id('import-opened')
    expect(links).to_have_text([KYOTO_TITLE, 'Sourdough starter'])
    kyoto_id = links.first.get_attribute('href').rsplit('/', 1)[1]
    expect(sidebar_item(page, kyoto_id)).to_be_visible()  # the history shows it at once

    page.get_by_test_id('import-close').click()
    sidebar_item(page, kyoto_id).click()
    page.wait_for_url(f'**/c/{kyoto_id}')
    expect(user_bubbles(page)).to_have_text([KYOTO_SHOWN[0], '[image]\n\nIs this the Golden Pavilion?'])
    expect(replies(page).first).to_contain_text(KYOTO_SHOWN[1])
    expect(replies(page).last).to_contain_text('Kinkaku-ji 金閣寺, the Golden Pavilion.')
    expect(page.locator('[data-testid=sibling-position]')).to_have_text(['2 / 2', '2 / 2'])
    page.locator('[data-testid=sibling-previous]').first.click()  # the question before its edit
    expect(user_bubbles(page)).to_have_text(['What should I see in Kyoto?'])
    expect(replies(page).locator('.reply-md')).to_have_text(['Fushimi Inari first'])

    import_file(page, export)  # again: nothing new
    expect(page.get_by_test_id('import-result')).to_have_text(
        'Imported 0 of 3 conversations. 2 were there already. 1 could not be imported.')


@pytest.mark.parametrize('name, data, message', [
    ('notes.json', b'{"notes": ["not a conversation"]}', 'This JSON is neither a chatapp conversation nor a '
                                                         'ChatGPT export.'),
    ('photo.json', b'\x89PNG\r\n\x1a\n', 'The file is neither JSON nor a ZIP archive'),
    ('cut.json', file_bytes(sample())[:300], 'The file is not valid JSON'),
])
def test_a_file_that_is_no_export_is_refused_with_what_is_wrong(page: Page, tmp_path: Path, name: str, data: bytes,
                                                                 message: str) -> None:
    (tmp_path / name).write_bytes(data)
    open_chat(page)
    import_file(page, tmp_path / name)
    expect(page.get_by_test_id('import-error')).to_contain_text(message)
    expect(page.get_by_test_id('import-result')).to_have_count(0)


def test_downloads_need_a_login_and_never_show_another_persons_conversation(
        start_app: Callable[..., App], new_context: Callable[[], BrowserContext]) -> None:
    app = start_app()
    alice = new_context().new_page()
    log_in(alice, app, 'alice@example.com')
    expect(alice.get_by_test_id('user-name')).to_have_text('Alice')
    alice.locator('textarea[data-testid=composer]').fill('Budget for the offsite')
    alice.get_by_test_id('send').click()
    alice.wait_for_url(re.compile(r'/c/[0-9a-f-]{36}$'))
    conversation_id = alice.url.rsplit('/', 1)[1]
    own = alice.request.get(f'{app.url}/export/{conversation_id}.json')
    assert own.status == 200 and own.json()['title'] == 'Budget for the offsite'
    everything = downloaded(alice, 'account', 'export-all')
    with zipfile.ZipFile(io.BytesIO(content(everything))) as archive:
        assert 'Alice' in archive.read('README.md').decode()
        assert any(conversation_id[:8] in name for name in archive.namelist())

    bob = new_context().new_page()
    log_in(bob, app, 'bob@example.com')
    missing = bob.request.get(f'{app.url}/export/00000000-0000-4000-8000-000000000000.json')
    for suffix in ('.json', '.md'):
        theirs = bob.request.get(f'{app.url}/export/{conversation_id}{suffix}')
        assert (theirs.status, theirs.text()) == (missing.status, missing.text()) == (404, 'Not found')

    stranger = new_context()
    for path in (f'/export/{conversation_id}.json', '/export/all.zip'):
        response = stranger.request.get(app.url + path, max_redirects=0)
        assert response.status == 303 and response.headers['location'].startswith('/login?next=')


def test_the_menus_work_from_the_keyboard(page: Page, llm: LLMock) -> None:
    open_chat(page)
    llm.reply('An answer.')
    send_new(page, 'A question for the keyboard')
    wait_finished(replies(page).last)
    page.get_by_test_id('export-button').focus()
    with page.expect_download() as download:
        page.keyboard.press('Enter')
        expect(page.get_by_test_id('export-md')).to_be_focused()  # the menu's first item
        page.keyboard.press('Enter')
    assert download.value.suggested_filename == 'A question for the keyboard.md'

    page.get_by_test_id('local-mode').focus()
    page.keyboard.press('Enter')
    expect(page.get_by_test_id('export-all')).to_be_focused()
    page.keyboard.press('Tab')
    expect(page.get_by_test_id('import-open')).to_be_focused()
    page.keyboard.press('Enter')
    expect(page.get_by_test_id('import-dialog')).to_be_visible()
