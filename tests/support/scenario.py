"""One round of load on a running app: idle socket clients, streaming Chromium pages, and the app's memory.

Shared by tests/load/test_many_clients.py and bench/memory_bench.py. A round opens `idle` socket clients
(crowd.py) and `streams` Chromium pages (one browser context each), sends a prompt from every
page at once, waits until every page shows its reply finished, and closes everything again; meanwhile
the app's RSS is sampled for its peak. `settle` then waits for NiceGUI's cleanup.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.crowd import Crowd, diagnostics
from tests.support.processes import rss_mb

CONVERSATION_URL = re.compile(r'/c/([0-9a-f-]{36})$')
REPLY_ROW = '[data-testid=message-assistant]'
PAGE_OPEN_TIMEOUT_MS = 90_000
RECONNECT_GRACE_SECONDS = 10.0  # a little over the load app's reconnect timeout (8 s)
PING_TASK = 'AsyncSocket._send_ping'  # engine.io's, sleeps out one ping interval after its socket closed


@dataclass
class RssSampler:
    """Samples a process's RSS in the background; `peak` is the highest seen."""

    pid: int
    interval: float = 0.2
    peak: float = 0.0
    _task: asyncio.Task | None = None

    def __enter__(self) -> RssSampler:
        self.peak = rss_mb(self.pid)
        self._task = asyncio.create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.peak = max(self.peak, rss_mb(self.pid))

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb(self.pid))
            await asyncio.sleep(self.interval)


@dataclass
class RoundResult:
    idle: int
    streams: int
    rss_before: float
    rss_peak: float = 0.0
    open_seconds: float = 0.0    # the idle clients connected
    reply_seconds: float = 0.0   # from the prompts sent to the last page showing its reply finished
    at_peak: dict = field(default_factory=dict)  # diagnostics with everyone connected
    conversations: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)  # each page's reply text as displayed
    failures: list[str] = field(default_factory=list)  # pages whose reply did not finish in time


async def open_page(browser: object, base_url: str, path: str = '/') -> tuple[object, object]:
    """A fresh browser context with the chat page open and its socket connected."""
    context = await browser.new_context(base_url=base_url, viewport={'width': 1280, 'height': 800})
    # twenty pages loading at once next to 200 socket clients, on two cores shared with Chromium: this
    # test is about every reply arriving and nothing being left behind, not about how fast a page opens
    context.set_default_timeout(PAGE_OPEN_TIMEOUT_MS)
    page = await context.new_page()
    await page.goto(path)
    await page.wait_for_function('window.did_handshake === true')
    return context, page


async def all_connected(base_url: str, count: int, timeout: float = 10.0) -> dict:
    """Diagnostics once NiceGUI counts `count` connected clients (a dropped socket may be reconnecting), or
    after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        state = await diagnostics(base_url)
        if state['connected'] >= count or time.monotonic() > deadline:
            return state
        await asyncio.sleep(0.25)


async def send_and_wait(page: object, prompt: str, timeout_ms: float) -> tuple[str, str]:
    """Send `prompt` from a new-chat page; returns the conversation id and the finished reply's text."""
    from playwright.async_api import expect
    composer = page.locator('textarea[data-testid=composer]')
    await composer.fill(prompt)
    await composer.press('Enter')
    await page.wait_for_url(CONVERSATION_URL, timeout=timeout_ms)
    conversation_id = CONVERSATION_URL.search(page.url).group(1)
    row = page.locator(REPLY_ROW).last
    await expect(row).to_be_visible(timeout=timeout_ms)
    # a locator assertion retries across a reload (a busy page may be dropped and rebuilt mid-reply)
    await expect(row).not_to_have_class(re.compile(r'\bstreaming\b'), timeout=timeout_ms)
    return conversation_id, await row.locator('.reply-md').inner_text()


async def run_round(browser: object, base_url: str, pid: int, *, idle: int, streams: int, label: str,
                    reply_timeout: float = 45.0) -> RoundResult:
    """Connect `idle` socket clients and `streams` pages, stream one reply per page, then close them all."""
    result = RoundResult(idle, streams, rss_before=rss_mb(pid))
    crowd = Crowd(base_url)
    contexts: list[object] = []
    try:
        with RssSampler(pid) as sampler:
            result.open_seconds = await crowd.open(idle)
            opened = await asyncio.gather(*(open_page(browser, base_url) for _ in range(streams)))
            contexts = [context for context, _ in opened]
            result.at_peak = await all_connected(base_url, idle + streams)
            result.at_peak['socket_clients_connected'] = crowd.connected
            started = time.monotonic()
            replies = await asyncio.gather(*(send_and_wait(page, f'{label} stream {number}: tell me more',
                                                           reply_timeout * 1000)
                                             for number, (_, page) in enumerate(opened)), return_exceptions=True)
            result.reply_seconds = time.monotonic() - started
            for number, reply in enumerate(replies):
                if isinstance(reply, BaseException):  # kept for the report; the round goes on to its cleanup
                    result.failures.append(f'page {number}: {type(reply).__name__}: {str(reply).splitlines()[0]}')
                else:
                    result.conversations.append(reply[0])
                    result.shown.append(reply[1])
            # a socket dropped for a late pong reconnects within the reconnect timeout: only one that does not
            # is lost
            result.at_peak['socket_clients_still_connected'] = await crowd.reconnected(RECONNECT_GRACE_SECONDS)
            result.at_peak['socket_client_drops'] = crowd.drops
        result.rss_peak = sampler.peak
    finally:
        await crowd.close()
        for context in contexts:
            with contextlib.suppress(Exception):  # the browser may already be gone after a failure
                await context.close()
    return result


def settled(state: dict, *, max_tasks: int | None = None) -> bool:
    """No clients, subscriptions or replies left, engine.io's ping tasks done, and (if given) no more tasks
    than `max_tasks`."""
    return (state['clients'] == 0 and state['subscriptions'] == 0 and state['replies'] == 0
            and PING_TASK not in state['task_names']
            and (max_tasks is None or state['tasks'] <= max_tasks))


async def settle(base_url: str, *, max_tasks: int | None = None, timeout: float = 30.0) -> dict:
    """Wait until NiceGUI has deleted the disconnected clients and what hung on them (see `settled`);
    returns the last diagnostics, settled or not (the caller asserts on them)."""
    deadline = time.monotonic() + timeout
    while True:
        state = await diagnostics(base_url, collect=True)
        if settled(state, max_tasks=max_tasks) or time.monotonic() > deadline:
            return state
        await asyncio.sleep(0.5)


def forget_conversations(database: Path) -> None:
    """Delete every conversation, so that the next round's pages list as many as this round's did (a sidebar
    grows with them). Safe to do behind the app's back once nobody is connected: it caches none of them."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection, connection:
        for table in ('reply_claim', 'message', 'conversation'):
            connection.execute(f'DELETE FROM {table}')
