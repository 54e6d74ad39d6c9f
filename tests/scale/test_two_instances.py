"""Two app instances behind nginx, as docs/deploy.md sets them up, driven from a real browser.

PostgreSQL holds the data, Redis carries the live events, nginx (docs/deploy/nginx.conf.template, TLS on
loopback) keeps every browser on one instance by its route cookie. Two browser profiles of the same (local)
user are pinned to different instances by their route cookies and open the same conversation.
llmock streams one word per chunk, 30 ms apart.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect
from playwright.sync_api import Error as PlaywrightError

from tests.support.chat import (
    alnum,
    assert_grows_as_prefixes,
    connected,
    long_reply,
    open_chat,
    open_item_menu,
    record_reply,
    recorded,
    reload,
    replies,
    reply_text,
    send,
    send_new,
    sidebar_item,
    wait_finished,
    wait_streaming,
    wait_text_length,
)
from tests.support.cluster import Cluster, served_only_by
from tests.support.databases import fetch, run_async
from tests.support.deploy import ENV_EXAMPLE, env_file
from tests.support.nginx import ROUTE_COOKIE
from tests.support.servers import LLMock

pytestmark = pytest.mark.browser

LEASE_AND_SWEEP_SECONDS = 30  # LEASE_SECONDS (15) + the sweeper's period (5) + slack for a loaded machine
SHUTDOWN_GRACE = float(env_file(ENV_EXAMPLE)['CHATAPP_SHUTDOWN_GRACE'])
INTERRUPTED_TEXT = 'The server stopped while this reply was being written.'
Pinned = Callable[[int], Page]  # the `pinned` fixture: a page in a profile pinned to instance i


def wait_reply(row: Locator, text: str, timeout: float = 20_000) -> None:
    """The reply is finished and shows exactly `text` (compared by letters and digits). Polls through the
    locator, so a row that is replaced (the page reloaded on another instance) is followed."""
    want = alnum(text)
    deadline = time.monotonic() + timeout / 1000
    shown, classes = '', ''
    while True:
        with contextlib.suppress(PlaywrightError):  # the page may be navigating
            if row.count():
                classes = row.get_attribute('class', timeout=1000) or ''
                shown = alnum(row.locator('.reply-md').text_content(timeout=1000) or '')
                if shown == want and 'streaming' not in classes.split():
                    return
        if time.monotonic() > deadline:
            raise AssertionError(f'{row.page.url}: the reply did not end as expected within {timeout / 1000:g} s; '
                                 f'class={classes!r}\nshown:    {shown}\nexpected: {want}')
        time.sleep(0.1)


def stored_replies(cluster: Cluster, conversation_id: str) -> list[dict]:
    return run_async(fetch(cluster.database_url,
                           "SELECT id, status, content, error FROM message WHERE conversation_id = $1 "
                           "AND role = 'assistant' ORDER BY id", conversation_id))


# --- sticky sessions ---------------------------------------------------------------------------------------

def test_a_new_browser_gets_a_route_cookie_and_stays_on_one_instance(running: Cluster,
                                                                    fresh_context: BrowserContext) -> None:
    status, headers, _ = running.nginx.get('/c/x?y=1', https=False)
    assert status == 301 and headers['Location'] == f'{running.nginx.base_url}/c/x?y=1'

    page = fresh_context.new_page()
    open_chat(page)
    cookies = {c['name']: c for c in fresh_context.cookies()}
    route = cookies[ROUTE_COOKIE]
    assert route['httpOnly'] and route['secure'] and route['sameSite'] == 'Lax'
    assert cookies['session']['secure']  # CHATAPP_PUBLIC_URL is https
    for _ in range(2):
        reload(page)
    assert {c['value'] for c in fresh_context.cookies() if c['name'] == ROUTE_COOKIE} == {route['value']}

    lines = [line for line in running.nginx.access_lines() if line['route'] == route['value']]
    assert len({line['upstream'] for line in lines}) == 1, lines
    sockets = [line for line in lines if line['request'].startswith('GET /_nicegui_ws/socket.io/')]
    assert any(line['status'] == '101' for line in sockets), f'no WebSocket upgrade through nginx: {lines}'


# --- two instances, one conversation ----------------------------------------------------------------------

def test_a_reply_streams_live_on_both_instances_and_a_rename_shows_on_both(running: Cluster, pinned: Pinned,
                                                                           llm: LLMock) -> None:
    first, second = pinned(0), pinned(1)  # the reply is written by the first instance
    tag = uuid.uuid4().hex[:8]
    open_chat(first)
    llm.reply('A short first answer.')
    conversation_id = send_new(first, f'Scale check {tag}')
    wait_reply(replies(first).last, 'A short first answer.')

    open_chat(second, f'/c/{conversation_id}')
    expect(replies(second)).to_have_count(1)
    record_reply(second)
    text = long_reply(120)
    llm.reply(text)
    send(first, 'Now a longer answer, please.')
    for page in (first, second):
        expect(replies(page)).to_have_count(2)
    for page in (first, second):
        wait_reply(replies(page).last, text)
    steps = assert_grows_as_prefixes(recorded(second), alnum(text), at_least=5)
    assert len(steps) >= 5

    new_title = f'Renamed on the second instance {tag}'
    open_item_menu(second, conversation_id, 'Rename')
    rename = second.locator('input[data-testid=rename-input]')
    expect(rename).to_have_value(f'Scale check {tag}')
    rename.fill(new_title)
    rename.press('Enter')
    for page in (second, first):
        expect(sidebar_item(page, conversation_id)).to_contain_text(new_title)

    for page in (first, second):
        page.close()
    served_only_by(running, 0)
    served_only_by(running, 1)


# --- an instance dies mid-reply ---------------------------------------------------------------------------

def test_a_killed_instance_leaves_the_reply_interrupted_and_retry_works_on_the_other(running: Cluster, pinned: Pinned,
                                                                                   llm: LLMock) -> None:
    first, second = pinned(0), pinned(1)
    writer = running.instances[0]
    text = long_reply(600)  # about 18 s: the instance is killed a few seconds in
    open_chat(first)
    llm.reply(text)
    conversation_id = send_new(first, f'Kill check {uuid.uuid4().hex[:8]}')
    open_chat(second, f'/c/{conversation_id}')
    row = replies(second).last
    wait_streaming(row)
    wait_text_length(row, 150)
    time.sleep(1.5)  # the writer saves the growing reply about once a second: some of it is stored

    writer.stop(hard=True)  # SIGKILL: no chance to save or release anything
    killed_at = time.monotonic()
    shown_at_kill = alnum(reply_text(row))
    wait_finished(row, timeout=(LEASE_AND_SWEEP_SECONDS + 5) * 1000)
    took = time.monotonic() - killed_at
    assert took < LEASE_AND_SWEEP_SECONDS, f'the orphaned reply was interrupted only after {took:.1f} s'
    expect(row.locator('[data-testid=message-error]')).to_have_text(INTERRUPTED_TEXT)
    kept = alnum(reply_text(row))
    assert len(kept) >= len(shown_at_kill) > 0 and alnum(text).startswith(kept)
    [stored] = stored_replies(running, conversation_id)
    assert stored['status'] == 'interrupted' and stored['error'] == INTERRUPTED_TEXT
    assert stored['content'] and text.startswith(stored['content'])
    kept_text = stored['content']

    retried = 'Retried on the surviving instance, from the start, with every word.'
    llm.reply(retried)
    row.locator('[data-testid=retry]').click()
    wait_reply(row, retried)
    expect(row.locator('[data-testid=message-error]')).to_be_hidden()
    interrupted, stored = stored_replies(running, conversation_id)  # a retry is a new answer beside the old
    assert (stored['status'], stored['content']) == ('complete', retried)
    assert interrupted['status'] == 'interrupted' and interrupted['content'] == kept_text
    # the page that was on the killed instance reconnected, was moved to the other one, and reloaded there
    wait_reply(replies(first).last, retried, timeout=30_000)
    connected(first)


# --- graceful shutdown ------------------------------------------------------------------------------------

def test_sigterm_lets_the_running_reply_finish(running: Cluster, pinned: Pinned, llm: LLMock) -> None:
    first, second = pinned(0), pinned(1)
    stopping = running.instances[1]
    text = long_reply(150)  # about 4.5 s, well inside the grace
    open_chat(second)
    llm.reply(text)
    conversation_id = send_new(second, f'Shutdown check {uuid.uuid4().hex[:8]}')
    open_chat(first, f'/c/{conversation_id}')
    row = replies(first).last
    wait_streaming(row)
    wait_text_length(row, 60)
    [stored] = stored_replies(running, conversation_id)
    assert stored['status'] == 'streaming'

    log_start = stopping.log.size()
    started = time.monotonic()
    code = stopping.stop(timeout=SHUTDOWN_GRACE + 20)  # SIGTERM, as systemctl stop sends (KillSignal)
    took = time.monotonic() - started
    # a clean stop exits 0; "killed by SIGTERM" (-15) would mean uvicorn's re-raised signal killed it
    assert code == 0, f'exit status {code}\n{stopping.tail()}'
    assert took < SHUTDOWN_GRACE + 10, f'the shutdown took {took:.1f} s'
    log = stopping.log.text(log_start)
    assert re.search(rf'waiting up to {SHUTDOWN_GRACE:.0f} s for 1 running repl', log), stopping.tail()
    assert 'stopped; every reply is saved' in log, stopping.tail()
    [stored] = stored_replies(running, conversation_id)
    assert (stored['status'], stored['content'], stored['error']) == ('complete', text, '')
    # the page on the other instance followed the reply to its end over Redis
    wait_reply(row, text)
