"""Streaming under load: 200 idle clients and 20 streaming pages on one app process, then nobody.

Every reply must finish and be stored complete; after everyone has left and NiceGUI's reconnect timeout
has passed, no client, subscription, reply or extra task may be left, and the app's memory must be back
within 10 % of its baseline. The baseline is taken after a warm-up round of the same shape: the first
round raises RSS once for good (Python's and glibc's allocators keep freed memory for reuse, measured
at about +60 MB for 200 clients), so a leak shows as growth from one round to the next.

Run with `pytest tests/load -s` to see the numbers.
"""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tests.support.browser import launch, require_chromium
from tests.support.chat import alnum
from tests.support.crowd import DROP_REASONS, diagnostics
from tests.support.processes import rss_mb
from tests.support.scenario import RoundResult, forget_conversations, run_round, settle, settled
from tests.support.servers import DiagApp, FakeLLM

pytestmark = pytest.mark.browser

IDLE_CLIENTS = 200
STREAMING_PAGES = 20
MEMORY_TOLERANCE = 0.10
FENCE = re.compile(r'`{3,}[A-Za-z0-9_-]*')


def visible(text: str) -> str:
    """Letters and digits a reply shows, raw or rendered: a code fence's language tag is not shown."""
    return alnum(FENCE.sub('', text))


def expected_reply(model: FakeLLM) -> str:
    with urllib.request.urlopen(f'{model.base_url}/tokens', timeout=10) as response:
        return ''.join(json.loads(response.read())['tokens'])


def round_problems(app: DiagApp, result: RoundResult, reply: str, label: str) -> list[str]:
    """What went wrong in a round: someone not connected at once, a reply that did not finish, was not
    shown whole, or was not stored complete. Collected, not asserted, so the cleanup is still measured."""
    peak = result.at_peak
    problems = [f'{label}: {failure}' for failure in result.failures]
    if peak['connected'] < result.idle + result.streams:
        problems.append(f'{label}: NiceGUI counted {peak["connected"]} of {result.idle + result.streams} connected')
    if peak['socket_clients_still_connected'] != result.idle:
        problems.append(f'{label}: {result.idle - peak["socket_clients_still_connected"]} idle clients were lost')
    for conversation, shown in zip(result.conversations, result.shown, strict=True):
        if visible(shown) != visible(reply):
            problems.append(f'{label}: the page of {conversation} shows another reply than the model wrote')
    for conversation, (status, content) in app.stored_replies(result.conversations).items():
        if (status, content) != ('complete', reply):
            problems.append(f'{label}: {conversation} is stored {status} with {len(content)} of {len(reply)} '
                            'characters')
    return problems


def report(label: str, result: RoundResult) -> None:
    peak = result.at_peak
    print(f'\n{label}: {result.idle} idle + {result.streams} streaming; RSS {result.rss_before:.1f} -> peak '
          f'{result.rss_peak:.1f} MB; idle clients connected in {result.open_seconds:.1f} s, replies done in '
          f'{result.reply_seconds:.1f} s; at peak NiceGUI had {peak["clients"]} clients '
          f'({peak["connected"]} connected), {peak["tasks"]} tasks, {peak["subscriptions"]} subscriptions; '
          f'{peak["socket_client_drops"]} socket drops (reconnected; all rounds so far: {dict(DROP_REASONS)}); '
          f'{len(result.failures)} replies not finished')


async def test_many_clients_stream_and_leave_nothing_behind(load_app: DiagApp, model_server: FakeLLM) -> None:
    require_chromium()
    from playwright.async_api import async_playwright
    reply = expected_reply(model_server)
    async with async_playwright() as playwright:
        browser = await launch(playwright.chromium)
        try:
            warmup = await run_round(browser, load_app.url, load_app.pid, idle=IDLE_CLIENTS,
                                     streams=STREAMING_PAGES, label='warm-up')
            report('warm-up round', warmup)
            problems = round_problems(load_app, warmup, reply, 'warm-up')
            baseline = await settle(load_app.url)
            assert settled(baseline), f'the warm-up round left something behind: {baseline}'
            forget_conversations(load_app.database)  # the measured round's sidebars are as long as these were
            baseline_rss = rss_mb(load_app.pid)

            measured = await run_round(browser, load_app.url, load_app.pid, idle=IDLE_CLIENTS,
                                       streams=STREAMING_PAGES, label='measured')
            report('measured round', measured)
            problems += round_problems(load_app, measured, reply, 'measured')
        finally:
            await browser.close()
    after = await settle(load_app.url, max_tasks=baseline['tasks'])
    after_rss = rss_mb(load_app.pid)
    trimmed = await diagnostics(load_app.url, trim=True)  # what the allocator keeps, for the record
    print(f'baseline RSS {baseline_rss:.1f} MB ({baseline["tasks"]} tasks); peak {measured.rss_peak:.1f} MB; '
          f'after {after_rss:.1f} MB ({after_rss / baseline_rss - 1:+.1%}; {rss_mb(load_app.pid):.1f} MB after '
          f'malloc_trim); left: {after["clients"]} clients, {after["tasks"]} tasks {after["task_names"]}, '
          f'{after["subscriptions"]} subscriptions, {after["replies"]} replies; '
          f'{trimmed["user_storages"]} user storages')

    assert not problems, '\n'.join(problems)
    assert after['clients'] == 0, f'NiceGUI clients left after everyone disconnected: {after}'
    assert after['subscriptions'] == 0, f'event-bus subscriptions left: {after}'
    assert after['replies'] == 0, f'replies still running: {after}'
    assert after['tasks'] <= baseline['tasks'], \
        f'asyncio tasks left: {after["task_names"]} (baseline {baseline["task_names"]})'
    assert after_rss <= baseline_rss * (1 + MEMORY_TOLERANCE), \
        f'RSS {after_rss:.1f} MB is more than {MEMORY_TOLERANCE:.0%} above the baseline {baseline_rss:.1f} MB'
