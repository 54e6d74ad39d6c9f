"""Attachments in a real browser: files come by the Attach button, a drop on the composer and a paste (a screenshot
from the clipboard), show as chips that can be removed, and go with the question (llmock's journal: the text, and
an image as an image_url part); the sent question shows them, and its links give back the very bytes. A bad file,
one too large, and an image for a model without images are refused in words, losing nothing typed. With logins:
another person's attachment is not found, but a read-only link's reader gets the files of what it shows."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.browser.test_sharing import make_link
from tests.support.chat import composer, notification, open_chat, replies, send_new, wait_finished
from tests.support.engines import image_models_file
from tests.support.files import made_image
from tests.support.oidc import log_in
from tests.support.servers import App, LLMock

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures('no_server_errors')]

NOTES = '# Launch\nThe launch is on Tuesday.\n'
PNG = made_image('PNG', (400, 300))


@pytest.fixture(scope='module')
def app_server(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMock) -> Iterator[App]:
    """The app with a model that takes images (the default) and one that does not, both on the module's llmock."""
    root = tmp_path_factory.mktemp('chatapp')
    models = image_models_file(root / 'models.toml', llm_server.base_url)
    with App(root, llm_server, CHATAPP_MODELS_FILE=str(models), CHATAPP_MAX_FILE_MB='0.5') as app:
        yield app


def chips(page: Page) -> Locator:
    return page.locator('[data-testid=attachment-chip]')


def ready(page: Page, count: int) -> None:
    expect(page.locator('[data-testid=attachment-chip][data-state=ready]')).to_have_count(count)


def attach_by_button(page: Page, path: Path) -> None:
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id('attach').click()
    chooser.value.set_files(str(path))


# A File made in the page from bytes, handed over as a drop on the composer or a paste into its field
HAND_OVER_JS = '''([how, name, type, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const field = document.querySelector("textarea[data-testid=composer]");
  if (how === "paste") {
    field.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true }));
    return;
  }
  const composer = field.closest(".composer");
  for (const kind of ["dragenter", "dragover", "drop"])
    composer.dispatchEvent(new DragEvent(kind, { dataTransfer: transfer, bubbles: true, cancelable: true }));
}'''


def hand_over(page: Page, how: str, name: str, media_type: str, data: bytes) -> None:
    page.evaluate(HAND_OVER_JS, [how, name, media_type, base64.b64encode(data).decode()])


def test_files_by_button_drop_and_paste_go_with_the_question(page: Page, llm: LLMock, tmp_path: Path) -> None:
    notes = tmp_path / 'notes.md'
    notes.write_text(NOTES)
    open_chat(page)
    attach_by_button(page, notes)
    hand_over(page, 'drop', 'chart.png', 'image/png', PNG)
    hand_over(page, 'paste', 'image.png', 'image/png', made_image('PNG', (32, 32)))
    ready(page, 3)
    expect(chips(page).nth(0)).to_contain_text('notes.md')
    thumbnail = chips(page).nth(1).locator('img.chip-thumbnail')
    expect(thumbnail).to_have_attribute('src', re.compile(r'^data:image/webp;base64,'))
    expect(chips(page).nth(1)).to_contain_text('400×300')
    expect(composer(page)).to_have_value('')  # a pasted screenshot puts no text in the field
    chips(page).nth(2).get_by_role('button', name='Remove image.png').click()
    ready(page, 2)

    llm.reply('The launch is on **Tuesday**; the chart rises.')
    send_new(page, 'What do these say?')
    wait_finished(replies(page).last)
    expect(chips(page)).to_have_count(0)
    text, image = llm.requests()[-1]['body']['messages'][-1]['content']
    assert text['text'].startswith('What do these say?\n\n[Attached file: notes.md]\n# Launch')
    assert base64.b64decode(image['image_url']['url'].split(',', 1)[1]) == PNG

    files = page.locator('[data-testid=question-file]')
    expect(files).to_have_count(2)
    expect(files.nth(0)).to_contain_text('notes.md')
    original = page.request.get(files.nth(0).get_attribute('href'))
    assert original.body() == NOTES.encode() and original.headers['content-disposition'].startswith('attachment')
    shown = files.nth(1).locator('img')
    expect(shown).to_have_attribute('alt', 'chart.png')
    page.wait_for_function('(image) => image.complete && image.naturalWidth > 0', arg=shown.element_handle())
    assert page.request.get(files.nth(1).get_attribute('href')).body() == PNG
    page.reload()
    expect(page.locator('[data-testid=question-file]')).to_have_count(2)  # stored with the question


def test_a_bad_file_is_refused_in_words_and_nothing_typed_is_lost(page: Page, llm: LLMock, tmp_path: Path) -> None:
    dialogs: list[str] = []
    page.on('dialog', lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_chat(page)
    composer(page).fill('Keep this draft')
    binary = tmp_path / 'script.txt'
    binary.write_bytes(b'\x7fELF\x02\x01\x01' + bytes(500))
    attach_by_button(page, binary)
    expect(notification(page).last).to_contain_text('script.txt is not a text file, a PDF or an image')
    large = tmp_path / 'large.txt'
    large.write_text('x' * 600_000)
    attach_by_button(page, large)
    expect(notification(page).filter(has_text='A file may have 500 KB at most')).to_have_count(1)
    hand_over(page, 'drop', '<img src=x onerror=alert(1)>.txt', 'text/plain', b'Hostile name, harmless text\n')
    ready(page, 1)
    expect(chips(page).first).to_contain_text('<img src=x onerror=alert(1)>.txt')
    expect(chips(page)).to_have_count(1)
    expect(composer(page)).to_have_value('Keep this draft')
    assert dialogs == []
    assert llm.requests() == []

    # an upload that never reaches the tray (the server gone, or a page it no longer knows) is said on the page
    page.route('**/files/upload', lambda route: route.abort())
    hand_over(page, 'drop', 'away.txt', 'text/plain', b'x\n')
    expect(notification(page).filter(has_text='away.txt was not attached: the server could not be reached')) \
        .to_have_count(1)
    page.unroute('**/files/upload')
    page.route('**/files/upload', lambda route: route.fulfill(status=404, body='Not found'))
    hand_over(page, 'drop', 'stale.txt', 'text/plain', b'x\n')
    expect(notification(page).filter(has_text='stale.txt was not attached: reload the page')).to_have_count(1)
    expect(chips(page)).to_have_count(1)


def test_an_image_for_a_model_without_images_is_refused_before_sending(page: Page, llm: LLMock) -> None:
    open_chat(page)
    page.get_by_test_id('model-picker').click()
    page.locator('[data-testid=model-option]').filter(has_text='Text model').click()
    expect(page.get_by_test_id('model-picker')).to_contain_text('Text model')
    hand_over(page, 'drop', 'chart.png', 'image/png', PNG)
    ready(page, 1)
    composer(page).fill('What is this?')
    composer(page).press('Enter')
    expect(notification(page).last).to_contain_text('Text model does not take images')
    expect(composer(page)).to_have_value('What is this?')
    ready(page, 1)  # the file stays too
    assert llm.requests() == [] and '/c/' not in page.url


def test_an_attachment_is_not_found_for_anyone_else_but_a_links_reader(start_app: Callable[..., App],
                                                    new_context: Callable[[], BrowserContext], tmp_path: Path) -> None:
    app = start_app()
    alice = new_context().new_page()
    log_in(alice, app, 'alice@example.com')
    notes = tmp_path / 'plans.md'
    notes.write_text('Secret plans\n')
    with alice.expect_request('**/files/upload') as uploading:
        attach_by_button(alice, notes)
    tray = uploading.value.headers['x-chatapp-tray']
    ready(alice, 1)
    composer(alice).fill('Read my plans')
    alice.get_by_test_id('send').click()
    link = alice.locator('[data-testid=question-file]')
    expect(link).to_have_count(1)
    path = link.get_attribute('href')
    assert re.fullmatch(r'/files/[0-9a-f-]{36}', path)
    assert alice.request.get(app.url + path).body() == b'Secret plans\n'

    bob = new_context().new_page()
    log_in(bob, app, 'bob@example.com')
    for asked in (path, path + '/thumbnail', '/files/00000000-0000-4000-8000-000000000000'):
        response = bob.request.get(app.url + asked)
        assert (response.status, response.text()) == (404, 'Not found')
    posted = bob.request.post(app.url + '/files/upload', data=b'Slipped in\n',
                              headers={'X-Chatapp-Tray': tray, 'X-File-Name': 'slipped.txt'})
    assert (posted.status, posted.text()) == (404, 'Not found')  # into Alice's tray: only Alice may
    stranger = new_context().request.get(app.url + path, max_redirects=0)
    assert stranger.status == 303 and stranger.headers['location'].startswith('/login?next=')

    expect(alice.locator('[data-testid=question-file]')).to_have_count(1)
    bob.goto(app.url + make_link(alice, 'now'))
    linked = bob.locator('[data-testid=question-file]')
    expect(linked).to_contain_text('plans.md')
    assert re.fullmatch(r'/s/[\w-]+/files/[0-9a-f-]{36}', linked.get_attribute('href'))
    assert bob.request.get(app.url + linked.get_attribute('href')).body() == b'Secret plans\n'
