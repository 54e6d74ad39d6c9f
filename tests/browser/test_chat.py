"""The chat in a real browser (Debian's chromium through Playwright) against the app and llmock as processes.

llmock streams one word per chunk, 30 ms apart, so a reply of a hundred words takes about three seconds:
long enough to reload, stop or open a second tab while it is being written.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from chatapp.components.reply_view import ASK_SECONDS
from tests.support.chat import (
    alnum,
    assert_grows_as_prefixes,
    composer,
    connected,
    long_reply,
    notification,
    open_chat,
    open_item_menu,
    record_reply,
    recorded,
    reload,
    replies,
    reply_md,
    reply_text,
    send,
    send_new,
    sidebar_item,
    user_bubbles,
    wait_finished,
    wait_streaming,
    wait_text_length,
)
from tests.support.servers import LLM_TIMEOUT_SECONDS, App, LLMock

pytestmark = pytest.mark.browser

MARKDOWN_REPLY = (
    'Here is **bold text** and a few more words, so that this first paragraph takes a moment to arrive.\n\n'
    '```\nprint("fenced code")\ntotal = 1 + 2\n```\n\n'
    '| Name | Value |\n|---|---|\n| alpha | 1 |\n| beta | 2 |\n\n'
    'After the table comes a last paragraph with enough words in it to keep the stream going for a while, '
    'one word per chunk, until it reaches the very last word: omega.'
)

XSS = '<script>window.__xss=1</script> <img src=x onerror="window.__xss=2"> [click](javascript:window.__xss=3)'

INERT_JS = '''(root) => {
  const found = [];
  for (const el of [root, ...root.querySelectorAll("*")]) {
    const tag = el.tagName.toLowerCase();
    if (["script", "img", "iframe", "object", "embed", "svg"].includes(tag)) found.push(tag);
    for (const attr of el.attributes) {
      if (attr.name.toLowerCase().startsWith("on")) found.push(`${tag}[${attr.name}]`);
      if (/^\\s*javascript:/i.test(attr.value)) found.push(`${tag}[${attr.name}=${attr.value}]`);
    }
  }
  return found;
}'''


# --- streaming ----------------------------------------------------------------------------------------------

def record_frames(page: Page) -> dict[str, list[str]]:
    """The websocket messages the page receives and sends."""
    frames: dict[str, list[str]] = {'received': [], 'sent': []}
    page.on('websocket', lambda socket: (socket.on('framereceived', lambda p: frames['received'].append(str(p))),
                                         socket.on('framesent', lambda p: frames['sent'].append(str(p)))))
    return frames


def test_reply_grows_in_steps_and_renders_markdown(page: Page, llm: LLMock) -> None:
    frames = record_frames(page)
    open_chat(page)
    record_reply(page)
    llm.reply(MARKDOWN_REPLY)
    sent = time.monotonic()
    send_new(page, 'Show me some Markdown')
    expect(user_bubbles(page)).to_have_text(['Show me some Markdown'])
    expect(composer(page)).to_have_value('')
    row = replies(page).first
    wait_finished(row)
    finished = time.monotonic()

    final = alnum(reply_text(row))
    assert final == alnum(MARKDOWN_REPLY), reply_text(row)
    assert_grows_as_prefixes(recorded(page), final, at_least=3)

    md = reply_md(row)
    expect(md.locator('strong')).to_have_text('bold text')
    expect(md.locator('pre')).to_contain_text('print("fenced code")')
    expect(md.locator('table th')).to_have_text(['Name', 'Value'])
    expect(md.locator('table td')).to_have_text(['alpha', '1', 'beta', '2'])
    expect(md.locator('p')).to_have_count(2)
    shown = reply_text(row)
    for raw in ('**', '```', '|---'):
        assert raw not in shown, f'raw Markdown {raw!r} is shown: {shown!r}'
    expect(page.locator('[data-testid=stop]')).to_be_hidden()
    expect(page.locator('[data-testid=send]')).to_be_visible()
    # flow control: the page reports drawing an update a few times a second, not after every one
    element = md.get_attribute('id').removeprefix('c')
    updates = sum(f'ra({element},' in frame for frame in frames['received'])
    reports = sum(f'"event",{{"id":{element},' in frame for frame in frames['sent'])
    asks_at_most = (finished - sent) / ASK_SECONDS + 2
    assert 3 <= reports <= asks_at_most, (reports, asks_at_most, updates)


def test_a_reply_streams_while_its_script_still_loads(page: Page, llm: LLMock) -> None:
    """A page's first reply brings the script of its element. The updates that come before the element is
    drawn wait for it and show in order; the rest follow as they come."""
    held: list[Route] = []
    page.route('**/reply_view.js', lambda route: held.append(route))  # answered once updates wait for it
    open_chat(page)
    record_reply(page)
    text = ' '.join(f'word{i}' for i in range(200))  # about 6 s at llmock's pace
    llm.reply(text)
    send(page, 'Stream while the script loads')  # (NiceGUI's own messages, the new URL too, wait for the script)
    # the first update asks to hear when it is drawn; unheard of, the next comes LOST_UPDATE_SECONDS later
    page.wait_for_function('[...window.chatappEarlyUpdates.values()].some((updates) => updates.length >= 2)')
    held[0].continue_()
    row = replies(page).first
    wait_finished(row)
    final = alnum(reply_text(row))
    assert final == alnum(text)
    streaming = assert_grows_as_prefixes(recorded(page), final, at_least=10)
    assert streaming[0].startswith('word0word1word2'), streaming[0]  # what came while it loaded, shown at once


# Records the unfinished part of the last reply after every change while it streams: its class, its HTML
# and any live markup in it (INERT_JS).
RECORD_TAIL_JS = '''(inert) => {
  const states = window.__tailStates = [];
  const isInert = eval(inert);
  new MutationObserver(() => {
    const rows = document.querySelectorAll("[data-testid=message-assistant]");
    const row = rows[rows.length - 1];
    const tail = row?.querySelector(".reply-tail");
    if (!tail || !row.classList.contains("streaming")) return;
    const last = states[states.length - 1];
    if (!last || last.html !== tail.innerHTML || last.cls !== tail.className) {
      states.push({cls: tail.className, html: tail.innerHTML, text: tail.textContent, live: isInert(tail)});
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}'''


def test_the_unfinished_part_of_a_reply_shows_formatted(page: Page, llm: LLMock) -> None:
    """Bold and code in a paragraph still being written show formatted (and inert) before it ends, a list's
    items as their lines end; the code of an open fence shows in a code box, without the fence."""
    text = (f'A paragraph with **bold words** and `inline code` and {XSS} that goes on '
            + 'with more words ' * 8 + '\n\n- first item\n- second item\n- third item, the last one\n\n'
            + '```python\n' + 'print("line")\n' * 6 + '```\n\nThe end.')
    llm.reply(text)
    open_chat(page)
    page.evaluate(RECORD_TAIL_JS, INERT_JS)
    send_new(page, 'Formatting while it streams')
    row = replies(page).first
    wait_finished(row)
    states = page.evaluate('window.__tailStates')

    paragraph = [s for s in states if '<strong>bold words</strong>' in s['html']]
    assert paragraph and 'code' not in paragraph[0]['cls'].split(), states
    assert any('<code>inline code</code>' in s['html'] for s in paragraph), paragraph
    assert any('<li>first item</li>' in s['html'] and '- first' not in s['text'] for s in states), states
    code = [s for s in states if 'code' in s['cls'].split()]
    assert code and any(s['text'].count('print("line")') >= 3 for s in code), states
    assert all('```' not in s['text'] and '<' not in s['html'].replace('<br>', '') for s in code), code
    assert all(s['live'] == [] for s in states), [s for s in states if s['live']]
    assert page.evaluate('typeof window.__xss') == 'undefined'
    expect(reply_md(row).locator('pre')).to_contain_text('print("line")')
    expect(reply_md(row).locator('.reply-tail')).to_have_text('')
    expect(reply_md(row).locator('p').last).to_have_text('The end.')


def test_a_wide_table_on_a_phone_scrolls_instead_of_breaking_words(page: Page, llm: LLMock) -> None:
    page.set_viewport_size({'width': 390, 'height': 844})
    open_chat(page)
    llm.reply('| Setting | Example |\n|---|---|\n| `OPENAI_BASE_URL` | `http://localhost:11434/v1` (Ollama) |\n')
    send_new(page, 'A table, please')
    row = replies(page).first
    wait_finished(row)
    table = reply_md(row).locator('table')
    expect(table.locator('td code')).to_have_count(2)
    lines = table.locator('td code').evaluate_all('(codes) => codes.map((code) => code.getClientRects().length)')
    assert lines == [1, 1]  # each code word on one line
    assert table.evaluate('(t) => t.scrollWidth > t.clientWidth')  # the table scrolls sideways ...
    assert page.evaluate('document.documentElement.scrollWidth') <= 390  # ... the page does not


AT_END_JS = 'window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 2'


def test_the_page_follows_a_reply_until_the_reader_scrolls_up(page: Page, llm: LLMock) -> None:
    open_chat(page)
    llm.reply(long_reply(160, paragraph_every=4))  # several screens
    send_new(page, 'A long answer, please')
    row = replies(page).first
    wait_finished(row)
    page.wait_for_function(AT_END_JS)

    # an update that grows the page a lot at once, arriving while the page still scrolls to the end:
    # the scroll that reports that move must not be taken for the reader leaving the end
    page.evaluate('window.scrollTo(0, 0)')
    page.wait_for_timeout(200)
    page.evaluate("""() => {
      chatappScrollToBottom();
      document.querySelector('[data-testid=messages]').append(
        Object.assign(document.createElement('div'), { style: 'height: 2000px' }));
      chatappFollow();
    }""")
    page.wait_for_function(AT_END_JS)

    llm.reply(long_reply(160, paragraph_every=4))
    send(page, 'And another one')
    wait_text_length(replies(page).nth(1), 200)
    page.mouse.wheel(0, -1500)  # the reader scrolls up to read: the page stays where they are
    page.wait_for_timeout(300)
    position = page.evaluate('window.scrollY')
    wait_finished(replies(page).nth(1))
    assert page.evaluate('window.scrollY') == position
    assert not page.evaluate(AT_END_JS)


def test_reload_mid_reply_shows_the_partial_text_then_the_rest(page: Page, llm: LLMock) -> None:
    text = long_reply(120)
    llm.reply(text)
    open_chat(page)
    send_new(page, 'Tell me a long story')
    wait_text_length(replies(page).first, 60)

    reload(page)
    row = replies(page).first
    record_reply(page)
    snaps = recorded(page)
    assert snaps and snaps[0]['streaming'], f'the reply was no longer streaming after the reload: {snaps}'
    partial = snaps[0]['text']
    assert len(partial) >= 60 and alnum(text).startswith(partial), partial
    wait_finished(row)

    final = alnum(reply_text(row))
    assert final == alnum(text)
    after_reload = assert_grows_as_prefixes(recorded(page), final, at_least=3)
    assert after_reload[0] == partial
    expect(reply_md(row).locator('p')).to_have_count(10)

    reload(page)
    row = replies(page).first
    assert alnum(reply_text(row)) == final
    expect(reply_md(row).locator('p')).to_have_count(10)
    expect(row).not_to_have_class(re.compile(r'\bstreaming\b'))
    expect(user_bubbles(page)).to_have_text(['Tell me a long story'])


def test_a_finishing_reply_keeps_what_the_page_shows_and_adds_its_end(page: Page, llm: LLMock) -> None:
    """The end arrives with the row's finished state; the paragraphs already shown stay the same nodes (a
    selection in them survives), and the finished row shows the whole text at once."""
    text = long_reply(60, paragraph_every=6)
    llm.reply(text)
    open_chat(page)
    send_new(page, 'A few paragraphs, please')
    row = replies(page).first
    first = reply_md(row).locator('p').first
    expect(first).to_be_visible()
    first.evaluate('paragraph => { paragraph.dataset.kept = "yes" }')

    wait_finished(row)
    assert alnum(reply_text(row)) == alnum(text)
    expect(reply_md(row).locator('p')).to_have_count(10)
    expect(reply_md(row).locator('p[data-kept=yes]')).to_have_count(1)


def test_conversation_survives_a_restart(page: Page, llm: LLMock, app_server: App) -> None:
    llm.reply('Kept **on disk** across a restart.')
    open_chat(page)
    conversation_id = send_new(page, 'Remember me across restarts')
    row = replies(page).first
    wait_finished(row)
    expected = reply_text(row)

    page.goto('about:blank')  # so the old page does not reload itself when its connection comes back
    app_server.restart()  # SIGKILL, then a new process on the same data folder and port

    open_chat(page, '/')
    entry = sidebar_item(page, conversation_id)
    expect(entry).to_contain_text('Remember me across restarts')
    entry.click()
    page.wait_for_url(f'**/c/{conversation_id}')
    connected(page)
    expect(user_bubbles(page)).to_have_text(['Remember me across restarts'])
    expect(replies(page)).to_have_count(1)
    assert reply_text(replies(page).first) == expected
    expect(reply_md(replies(page).first).locator('strong')).to_have_text('on disk')


def test_a_reply_cut_by_a_killed_process_shows_as_interrupted(page: Page, llm: LLMock, app_server: App) -> None:
    full = long_reply(400)
    llm.script({'type': 'reply', 'text': full},
               {'type': 'stream_fault', 'kind': 'stall', 'after_chunks': 80, 'stall_seconds': 30})
    open_chat(page)
    conversation_id = send_new(page, 'Start something long')
    row = replies(page).first
    wait_text_length(row, 150)
    page.wait_for_timeout(1500)  # the growing reply is saved about once a second
    page.goto('about:blank')
    app_server.restart()  # SIGKILL mid-reply: no chance to save on the way out

    open_chat(page, f'/c/{conversation_id}')
    row = replies(page).first
    expect(row).not_to_have_class(re.compile(r'\bstreaming\b'))
    expect(row).to_contain_text('Interrupted')
    expect(row.locator('[data-testid=message-error]')).to_contain_text('server stopped')
    saved = reply_text(row)
    assert len(alnum(saved)) > 100 and alnum(full).startswith(alnum(saved)), 'what had been saved is kept'
    expect(row.locator('[data-testid=retry]')).to_be_visible()


# --- safety -------------------------------------------------------------------------------------------------

def test_markup_from_user_and_model_is_inert(page: Page, llm: LLMock) -> None:
    llm.reply(f'Echo: {XSS}\n\nOnce more, in a second paragraph: {XSS}')
    open_chat(page)
    conversation_id = send_new(page, XSS)
    row = replies(page).first
    wait_finished(row)

    for stage in ('streamed', 'reloaded'):
        row = replies(page).first
        bubble = user_bubbles(page).first
        expect(bubble).to_have_text(XSS)  # the literal text, not markup
        expect(reply_md(row)).to_contain_text('Once more')
        for name, element in (('user bubble', bubble), ('reply', reply_md(row)),
                              ('sidebar entry', sidebar_item(page, conversation_id))):
            assert element.evaluate(INERT_JS) == [], f'{stage}: live markup in the {name}'
        for link in reply_md(row).locator('a').all():
            href = (link.get_attribute('href') or '').strip().lower()
            assert not href.startswith('javascript:'), f'{stage}: {href!r}'
        assert page.evaluate('typeof window.__xss') == 'undefined', stage
        if stage == 'streamed':
            reload(page)


# --- stop and failures --------------------------------------------------------------------------------------

def test_stop_keeps_the_partial_reply(page: Page, llm: LLMock) -> None:
    text = long_reply(200)
    llm.reply(text)
    open_chat(page)
    send_new(page, 'Write a lot')
    row = replies(page).first
    stop = page.locator('[data-testid=stop]')
    expect(stop).to_be_visible()
    expect(page.locator('[data-testid=send]')).to_be_hidden()
    wait_text_length(row, 40)

    stop.click()
    wait_finished(row, timeout=5_000)
    expect(row.get_by_text('Stopped', exact=True)).to_be_visible()
    expect(row.locator('[data-testid=retry]')).to_be_visible()
    expect(page.locator('[data-testid=send]')).to_be_visible()
    expect(stop).to_be_hidden()
    shown = alnum(reply_text(row))
    assert shown and alnum(text).startswith(shown) and len(shown) < len(alnum(text)) // 2, shown

    record_reply(page)
    page.wait_for_timeout(1_000)  # the model would have sent about 30 more words by now
    assert [s['text'] for s in recorded(page)] == [shown], 'the reply grew after Stop'

    reload(page)
    row = replies(page).first
    assert alnum(reply_text(row)) == shown
    expect(row.get_by_text('Stopped', exact=True)).to_be_visible()


def test_model_error_is_explained_and_retry_recovers(page: Page, llm: LLMock) -> None:
    llm.script({'type': 'fail', 'status': 500})
    open_chat(page)
    send_new(page, 'This will fail first')
    row = replies(page).first
    error = row.locator('[data-testid=message-error]')
    expect(error).to_be_visible()
    expect(error).to_contain_text('HTTP 500')
    assert 'Traceback' not in error.inner_text() and 'openai.' not in error.inner_text()
    expect(row.get_by_text('Error', exact=True)).to_be_visible()
    retry = row.locator('[data-testid=retry]')
    expect(retry).to_be_visible()

    llm.reply('Recovered after **retry**.')
    retry.click()
    expect(reply_md(row)).to_have_text('Recovered after retry.')
    wait_finished(row)
    expect(error).to_be_hidden()
    expect(retry).to_be_hidden()

    reload(page)
    expect(user_bubbles(page)).to_have_text(['This will fail first'])
    expect(replies(page)).to_have_count(1)
    row = replies(page).first
    expect(reply_md(row)).to_have_text('Recovered after retry.')
    expect(row.locator('[data-testid=message-error]')).to_be_hidden()


@pytest.mark.parametrize(('kind', 'explained'), [
    pytest.param('disconnect', r'connection', id='disconnect'),
    pytest.param('truncate', r'ended before', id='truncate'),
    pytest.param('stall', rf'nothing for {LLM_TIMEOUT_SECONDS} seconds', id='stall'),
])
def test_broken_stream_keeps_the_partial_text_and_retry_completes(page: Page, llm: LLMock, kind: str,
                                                                  explained: str) -> None:
    text = long_reply(40)
    llm.script({'type': 'reply', 'text': text},
               {'type': 'stream_fault', 'kind': kind, 'after_chunks': 10, 'stall_seconds': 20})
    open_chat(page)
    send_new(page, f'Break the stream: {kind}')
    row = replies(page).first
    error = row.locator('[data-testid=message-error]')
    expect(error).to_be_visible(timeout=LLM_TIMEOUT_SECONDS * 1000 + 10_000)
    wait_finished(row)
    expect(error).to_contain_text(re.compile(explained, re.IGNORECASE))
    expect(row.get_by_text('Interrupted', exact=True)).to_be_visible()
    partial = alnum(reply_text(row))
    assert partial and alnum(text).startswith(partial) and len(partial) < len(alnum(text)), partial

    reload(page)
    row = replies(page).first
    assert alnum(reply_text(row)) == partial
    expect(row.locator('[data-testid=message-error]')).to_be_visible()

    llm.reply(text)
    row.locator('[data-testid=retry]').click()
    expect(reply_md(row)).to_contain_text('word40')
    wait_finished(row)
    assert alnum(reply_text(row)) == alnum(text)
    expect(row.locator('[data-testid=message-error]')).to_be_hidden()
    expect(row.locator('[data-testid=retry]')).to_be_hidden()


# --- several tabs -------------------------------------------------------------------------------------------

def test_two_tabs_follow_one_reply_and_a_second_send_is_refused(context: BrowserContext, page: Page,
                                                                llm: LLMock) -> None:
    text = long_reply(150)  # about five seconds: time to open the second tab and send from it meanwhile
    llm.reply(text)
    open_chat(page)
    record_reply(page)
    conversation_id = send_new(page, 'Two tabs, one question')

    other = context.new_page()
    open_chat(other, f'/c/{conversation_id}')
    record_reply(other)
    wait_streaming(replies(other).first)
    expect(other.locator('[data-testid=stop]')).to_be_visible()

    send(other, 'A question while the reply runs')
    expect(notification(other)).to_contain_text('still being written')
    expect(composer(other)).to_have_value('A question while the reply runs')

    final = alnum(text)
    for tab in (page, other):
        row = replies(tab).first
        wait_finished(row)
        assert alnum(reply_text(row)) == final
        assert_grows_as_prefixes(recorded(tab), final, at_least=3)
        expect(user_bubbles(tab)).to_have_text(['Two tabs, one question'])

    llm.reply('The second answer.')
    composer(other).press('Enter')  # the kept text goes now that the reply is done
    for tab in (other, page):
        expect(user_bubbles(tab)).to_have_text(['Two tabs, one question', 'A question while the reply runs'])
        expect(reply_md(replies(tab).nth(1))).to_have_text('The second answer.')
    expect(composer(other)).to_have_value('')


# --- composer -----------------------------------------------------------------------------------------------

def test_blank_input_is_not_sent_and_shift_enter_adds_a_line(page: Page, llm: LLMock) -> None:
    open_chat(page)
    box = composer(page)
    box.press('Enter')
    box.fill('   \n\t  ')
    box.press('Enter')
    page.locator('[data-testid=send]').click()
    box.fill('')
    box.press_sequentially('first line')
    box.press('Shift+Enter')
    box.press_sequentially('second line')
    expect(box).to_have_value('first line\nsecond line')
    assert '/c/' not in page.url, 'a blank message started a conversation'

    llm.reply('Got both lines.')
    box.press('Enter')
    page.wait_for_url(re.compile(r'/c/[0-9a-f-]{36}$'))
    # the blank sends went first over the same connection: had any been sent, it would be a bubble here
    expect(user_bubbles(page)).to_have_count(1)
    assert user_bubbles(page).first.inner_text() == 'first line\nsecond line'
    expect(replies(page)).to_have_count(1)
    wait_finished(replies(page).first)
    expect(reply_md(replies(page).first)).to_have_text('Got both lines.')
    expect(box).to_have_value('')


# --- sidebar ------------------------------------------------------------------------------------------------

def test_sidebar_lists_live_renames_and_deletes(context: BrowserContext, page: Page, llm: LLMock) -> None:
    open_chat(page)
    other = context.new_page()
    open_chat(other)
    tag = uuid.uuid4().hex[:8]
    title = f'Sidebar check {tag}'
    llm.reply('Sidebar reply.')
    conversation_id = send_new(page, title)

    expect(sidebar_item(other, conversation_id)).to_contain_text(title)  # appeared live in the other tab
    expect(sidebar_item(page, conversation_id)).to_have_class(re.compile(r'\bactive\b'))

    search = other.locator('input[data-testid=search]')
    search.fill(tag)
    expect(other.locator('[data-testid=conversation-item]')).to_have_count(1)
    expect(sidebar_item(other, conversation_id)).to_be_visible()
    search.fill('no conversation is called this ' + tag[::-1])
    expect(other.locator('[data-testid=conversation-item]')).to_have_count(0)
    search.fill('')
    expect(sidebar_item(other, conversation_id)).to_be_visible()

    new_title = f'Renamed {tag}'
    open_item_menu(other, conversation_id, 'Rename')
    rename = other.locator('input[data-testid=rename-input]')
    expect(rename).to_have_value(title)
    rename.fill(new_title)
    rename.press('Enter')
    for tab in (other, page):
        expect(sidebar_item(tab, conversation_id)).to_contain_text(new_title)

    open_item_menu(other, conversation_id, 'Delete')
    other.locator('[data-testid=confirm-delete]').click()
    for tab in (other, page):
        expect(sidebar_item(tab, conversation_id)).to_have_count(0)

    other.goto(f'/c/{conversation_id}')
    expect(other.locator('[data-testid=not-found]')).to_be_visible()
