"""What a browser does with the chat page, in the words of the page contract (data-testid): the browser tests and
the scaled-out deployment's."""

from __future__ import annotations

import itertools
import re

from playwright.sync_api import Locator, Page, expect

REPLY_TIMEOUT_MS = 20_000

# Records what one assistant reply shows after every change of the page: its letters and digits (so raw
# Markdown in the streaming tail and the same text rendered compare equal) and whether it is streaming.
RECORD_REPLY_JS = '''(index) => {
  const alnum = (s) => (s || "").replace(/[^0-9A-Za-z]/g, "");
  const snaps = window.__replySnaps = [];
  const record = () => {
    const rows = document.querySelectorAll("[data-testid=message-assistant]");
    const row = rows[index < 0 ? rows.length + index : index];
    if (!row) return;
    const md = row.querySelector(".reply-md");
    const text = alnum(md && md.textContent);
    const streaming = row.classList.contains("streaming");
    const last = snaps[snaps.length - 1];
    if (!last || last.text !== text || last.streaming !== streaming) snaps.push({text, streaming});
  };
  if (window.__replyObserver) window.__replyObserver.disconnect();
  window.__replyObserver = new MutationObserver(record);
  window.__replyObserver.observe(document.body,
    {subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["class"]});
  record();
}'''


def alnum(text: str) -> str:
    """Letters and digits only: what a reply says, whether shown as raw Markdown or rendered."""
    return re.sub(r'[^0-9A-Za-z]', '', text)


def words(text: str) -> str:
    return ' '.join(text.split())


def long_reply(count: int, *, paragraph_every: int = 12) -> str:
    """A reply of `count` distinct words in paragraphs: streams one word per chunk, several Markdown blocks."""
    parts = []
    for number in range(1, count + 1):
        parts.append(f'word{number}')
        parts.append('\n\n' if number % paragraph_every == 0 and number < count else ' ')
    return ''.join(parts).strip()


def connected(page: Page) -> None:
    """The page is shown and its websocket has finished the handshake, so events reach the server."""
    page.wait_for_function('window.did_handshake === true')
    expect(composer(page)).to_be_visible()


def open_chat(page: Page, path: str = '/') -> None:
    page.goto(path)
    connected(page)


def reload(page: Page) -> None:
    page.reload()
    connected(page)


def composer(page: Page) -> Locator:
    return page.locator('textarea[data-testid=composer]')


def send(page: Page, text: str) -> None:
    composer(page).fill(text)
    composer(page).press('Enter')


def send_new(page: Page, text: str) -> str:
    """Send the first message on `/`; returns the new conversation's id from the URL."""
    send(page, text)
    page.wait_for_url(re.compile(r'/c/[0-9a-f-]{36}$'))
    return conversation_id(page)


def conversation_id(page: Page) -> str:
    match = re.search(r'/c/([0-9a-f-]{36})$', page.url)
    assert match, page.url
    return match.group(1)


def user_bubbles(page: Page) -> Locator:
    return page.locator('[data-testid=message-user]')


def replies(page: Page) -> Locator:
    return page.locator('[data-testid=message-assistant]')


def reply_md(row: Locator) -> Locator:
    return row.locator('.reply-md')


def reply_text(row: Locator) -> str:
    return reply_md(row).inner_text()


def wait_streaming(row: Locator) -> None:
    expect(row).to_have_class(re.compile(r'\bstreaming\b'))


def wait_finished(row: Locator, timeout: float = REPLY_TIMEOUT_MS) -> None:
    expect(row).to_be_attached(timeout=timeout)  # a row not shown yet has no class: it would pass at once
    expect(row).not_to_have_class(re.compile(r'\bstreaming\b'), timeout=timeout)


def wait_text_length(row: Locator, letters: int) -> None:
    """Wait until the reply shows at least this many letters and digits."""
    row.page.wait_for_function(
        '([row, n]) => (row.querySelector(".reply-md")?.textContent || "").replace(/[^0-9A-Za-z]/g, "").length >= n',
        arg=[row.element_handle(), letters])


def record_reply(page: Page, index: int = -1) -> None:
    """Start recording what the assistant reply at `index` shows; read it back with `recorded`."""
    page.evaluate(RECORD_REPLY_JS, index)


def recorded(page: Page) -> list[dict]:
    return page.evaluate('window.__replySnaps')


def assert_grows_as_prefixes(snaps: list[dict], final: str, *, at_least: int) -> list[str]:
    """While streaming the reply only grew, every state was a beginning of the final text, and it grew in
    at least `at_least` distinct visible steps. Returns the streaming states."""
    streaming = [s['text'] for s in snaps if s['streaming'] and s['text']]
    for before, after in itertools.pairwise(streaming):
        assert len(after) > len(before), f'the reply shrank or repeated while streaming: {before!r} -> {after!r}'
    for text in streaming:
        assert final.startswith(text), f'a streaming state is not a beginning of the final reply:\n{text!r}\n{final!r}'
    assert len(streaming) >= at_least, f'the reply appeared in {len(streaming)} steps, expected >= {at_least}'
    return streaming


def sidebar_item(page: Page, conversation_id: str) -> Locator:
    return page.locator(f'[data-testid=conversation-item][data-id="{conversation_id}"]')


def open_item_menu(page: Page, conversation_id: str, action: str) -> None:
    """Rename or Delete from a sidebar row's menu."""
    row = sidebar_item(page, conversation_id)
    row.hover()
    row.locator('[data-testid=conversation-menu]').click()
    page.locator('.q-menu').get_by_text(action, exact=True).click()


def notification(page: Page) -> Locator:
    return page.locator('.q-notification')


# Sends the event an element's listener sends, over the page's own socket, with whatever arguments: what anyone who
# edits the page's script can do, whether or not the page shows the element (NiceGUI keeps hidden ones).
FORGE_EVENT_JS = '''([testid, type, args]) => {
  // marked by its props, or (a component that marks itself in its template) the element around the mark
  const elements = mounted_app.elements;
  const marked = Object.keys(elements).find((id) => elements[id].props?.["data-testid"] === testid);
  const id = marked ?? document.querySelector(`[data-testid="${testid}"]`).closest("[id^=c]").id.slice(1);
  const element = elements[id];
  const listener = element.events.find((event) => event.type === type);
  if (!listener) throw new Error(`${testid} listens to ${element.events.map((event) => event.type)}, not ${type}`);
  window.socket.emit("event", {id: Number(id), client_id: window.clientId, listener_id: listener.listener_id,
                               args: args.map((arg) => JSON.stringify(arg))});
}'''


def forge_event(page: Page, testid: str, event_type: str, *args: object) -> None:
    page.evaluate(FORGE_EVENT_JS, [testid, event_type, list(args)])
