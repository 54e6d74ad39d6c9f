"""Memory benchmark: what a connected client costs chatapp with a 50-message conversation open.

    .venv/bin/python bench/memory_bench.py [--sockets 0,50,100,200 --pages 0,2,4,8 --idle 200 --streams 20]

1. Seeds one local user's conversation with 50 messages (25 exchanges of fake_llm's Markdown) straight
   into a fresh SQLite database, then starts the app (tests/support/diag_app.py: chatapp plus a test-only
   diagnostics route) against tests/support/fake_llm.py on loopback.
2. Opens K clients on that conversation and fits the app's RSS against K (MB per client): socket
   clients without a browser (tests/support/crowd.py) for the big K, real Chromium pages for a small K.
3. Runs one round of --idle socket clients + --streams streaming Chromium pages
   (tests/support/scenario.py) and reports the RSS peak and what is left after everyone disconnected.
Prints a summary; the raw numbers go to bench/results/ (ignored by git). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))  # tests.support: the load tests' harness; bench/ is on the path as the script's folder

from stream_bench import RESULTS  # noqa: E402

from tests.support.browser import launch  # noqa: E402
from tests.support.crowd import Crowd, diagnostics  # noqa: E402
from tests.support.factories import make_conversation  # noqa: E402
from tests.support.fake_llm import make_tokens  # noqa: E402
from tests.support.processes import rss_mb  # noqa: E402
from tests.support.scenario import open_page, run_round, settle  # noqa: E402
from tests.support.servers import DiagApp, FakeLLM  # noqa: E402


async def seed_conversation(database_url: str, exchanges: int = 25) -> str:
    """One conversation of `exchanges` questions and finished Markdown replies, for the local user."""
    from chatapp.db import Database
    from chatapp.events import EventBus
    from chatapp.models import Status
    from chatapp.services import LOCAL_PROVIDER
    from chatapp.store import Claim, ConversationStore
    database = Database(database_url)
    try:
        await database.prepare_schema()
        store = ConversationStore(database, EventBus())
        user = await store.upsert_user(LOCAL_PROVIDER, 'local', name='Local user')
        conversation = await make_conversation(database, user.id, 'Explain how the stream is rendered')
        claim = Claim(conversation.id, 'seed')
        for number in range(exchanges):
            stored = await store.add_exchange(user.id, conversation.id, f'Question {number}: and then what happens?',
                                              'bench', claim.instance_id)
            assert stored is not None
            reply = ''.join(make_tokens(300, seed=number))  # ~300 tokens of paragraphs, lists and code
            await store.save_reply(user.id, stored[1].id, reply, Status.COMPLETE, claim=claim)  # and release it
        return conversation.id
    finally:
        await database.close()


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares MB per client of (clients, RSS) points."""
    n = len(points)
    mean_k = sum(k for k, _ in points) / n
    mean_r = sum(r for _, r in points) / n
    spread = sum((k - mean_k) ** 2 for k, _ in points)
    return sum((k - mean_k) * (r - mean_r) for k, r in points) / spread if spread else float('nan')


async def rss_settled(app: DiagApp) -> float:
    """RSS after a garbage collection, once the app is quiet."""
    await asyncio.sleep(1.0)
    await diagnostics(app.url, collect=True)
    return rss_mb(app.pid)


async def socket_points(app: DiagApp, path: str, counts: list[int]) -> list[tuple[int, float]]:
    crowd = Crowd(app.url)
    points = []
    try:
        for count in sorted(counts):
            await crowd.open(count - len(crowd.clients), path)
            points.append((count, await rss_settled(app)))
            print(f'  {count} socket clients: {points[-1][1]:.1f} MB', flush=True)
    finally:
        await crowd.close()
    return points


async def page_points(browser: object, app: DiagApp, path: str, counts: list[int]) -> list[tuple[int, float]]:
    contexts: list[object] = []
    points = []
    try:
        for count in sorted(counts):
            opened = await asyncio.gather(*(open_page(browser, app.url, path)
                                            for _ in range(count - len(contexts))))
            contexts += [context for context, _ in opened]
            points.append((count, await rss_settled(app)))
            print(f'  {count} Chromium pages: {points[-1][1]:.1f} MB', flush=True)
    finally:
        for context in contexts:
            await context.close()
    return points


async def measure(app: DiagApp, args: argparse.Namespace, conversation_id: str) -> dict:
    from playwright.async_api import async_playwright
    path = f'/c/{conversation_id}'
    results: dict = {'args': vars(args), 'conversation': conversation_id, 'started_rss_mb': rss_mb(app.pid)}
    warm = Crowd(app.url)  # first-use costs (imports, templates, the socket server's tasks) stay out
    await warm.open(5, path)
    await warm.close()
    await settle(app.url)
    results['baseline_rss_mb'] = await rss_settled(app)
    print(f'baseline {results["baseline_rss_mb"]:.1f} MB', flush=True)
    async with async_playwright() as playwright:
        browser = await launch(playwright.chromium)
        try:
            # pages first: memory the allocator keeps from a bigger socket phase would hide their cost
            results['pages'] = await page_points(browser, app, path, [0, *args.pages])
            results['after_pages'] = await settle(app.url)
            results['sockets'] = await socket_points(app, path, [0, *args.sockets])
            results['after_sockets'] = await settle(app.url)
            results['round_baseline_rss_mb'] = rss_mb(app.pid)
            print(f'{args.idle} idle + {args.streams} streaming ...', flush=True)
            round_ = await run_round(browser, app.url, app.pid, idle=args.idle, streams=args.streams,
                                     label='bench', reply_timeout=args.reply_timeout)
        finally:
            await browser.close()
    results['round'] = {key: value for key, value in vars(round_).items() if key != 'shown'}
    results['after_round'] = await settle(app.url)
    results['after_round_rss_mb'] = rss_mb(app.pid)
    await diagnostics(app.url, trim=True)
    results['after_round_trimmed_rss_mb'] = rss_mb(app.pid)
    return results


def summarize(results: dict) -> None:
    sockets, pages, round_ = results['sockets'], results['pages'], results['round']
    after = results['after_round']
    print(f'\nbaseline (warm, conversation of 50 messages open nowhere): {results["baseline_rss_mb"]:.1f} MB')
    if len(sockets) > 1:
        print(f'per socket client on the conversation: {slope(sockets):.3f} MB  ({sockets})')
    if len(pages) > 1:
        print(f'per Chromium page on the conversation: {slope(pages):.3f} MB  ({pages})')
    print(f'{round_["idle"]} idle + {round_["streams"]} streaming: RSS {results["round_baseline_rss_mb"]:.1f} -> '
          f'peak {round_["rss_peak"]:.1f} -> after disconnect {results["after_round_rss_mb"]:.1f} MB '
          f'({results["after_round_trimmed_rss_mb"]:.1f} MB after malloc_trim); replies done in '
          f'{round_["reply_seconds"]:.1f} s, {len(round_["failures"])} not finished; left: {after["clients"]} '
          f'clients, {after["tasks"]} tasks, {after["subscriptions"]} subscriptions, {after["generations"]} replies')


def parse_args() -> argparse.Namespace:
    counts = lambda text: [int(value) for value in text.split(',') if value.strip()]  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sockets', type=counts, default=[50, 100, 200], help='socket-client counts')
    parser.add_argument('--pages', type=counts, default=[2, 4, 8], help='Chromium page counts')
    parser.add_argument('--idle', type=int, default=200)
    parser.add_argument('--streams', type=int, default=20)
    parser.add_argument('--tokens', type=int, default=300)
    parser.add_argument('--rate', type=float, default=30.0)
    parser.add_argument('--reconnect-timeout', type=float, default=8.0)
    parser.add_argument('--reply-timeout', type=float, default=60.0)
    return parser.parse_args()


def main() -> None:
    import tempfile
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix='memory-bench-') as temp, \
            FakeLLM(Path(temp), tokens=args.tokens, rate=args.rate) as llm:
        app = DiagApp(Path(temp) / 'app', llm, CHATAPP_RECONNECT_TIMEOUT=str(args.reconnect_timeout),
                      CHATAPP_LLM_TIMEOUT='30')
        try:
            app.data_dir.mkdir(parents=True)
            conversation_id = asyncio.run(seed_conversation(f'sqlite+aiosqlite:///{app.database}'))
            app.start()
            results = asyncio.run(measure(app, args, conversation_id))
        finally:
            app.stop()
    summarize(results)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f'memory-{time.strftime("%Y%m%d-%H%M%S")}.json'
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f'raw numbers: {out.relative_to(ROOT)}')


if __name__ == '__main__':
    main()
