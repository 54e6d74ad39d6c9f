"""Opening a long conversation: what it costs the server and how soon the browser shows it.

    .venv/bin/python bench/open_bench.py [--messages 60,2000] [--before REV]

For each size, one conversation of the local user (questions and ~1,200-character Markdown replies with a code
block, their HTML kept as the app keeps it) is written straight into the app's SQLite database; the app runs as
tests/support/diag_app.py (chatapp plus a loopback-only diagnostics route). Reported per size:
- a new chat's page first, as the floor: what any page of the app takes;
- server: the median time of GET /c/<id> (the page is built in the request: the read and the rows);
- paint: the median time in Chromium from navigation start to the newest reply drawn (two animation frames after
  it is in the page), in a fresh profile (cold: NiceGUI's scripts fetched and compiled too) and on the next
  open in the same profile (warm: as a person opens one conversation after another);
- stall: the longest the event loop was blocked while the pages opened (a 20 ms timer's lateness, counted as far
  as the loop's thread ran), and the longest garbage collection meanwhile (a pause of the process, not of a
  handler: where the two match, the stall was the collector);
- page MB: the app's RSS with four Chromium pages open on the conversation, less before, a quarter of it (after a
  garbage collection and malloc_trim on both sides).
`--before REV` runs the same on that revision of chatapp (a git worktree) in the same run, as the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402

from chatapp.rendering import render_markdown  # noqa: E402
from tests.support.browser import launch  # noqa: E402
from tests.support.crowd import diagnostics  # noqa: E402
from tests.support.processes import rss_mb  # noqa: E402
from tests.support.servers import DiagApp  # noqa: E402

RUNS = 5
PAGES = 4
NEWEST_DRAWN_JS = '''async () => {
  const rows = () => document.querySelectorAll("[data-testid=message-assistant] .reply-md");
  while (!rows().length || !rows()[rows().length - 1].textContent.includes("Reply LAST")) {
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now();
}'''
COMPOSER_DRAWN_JS = '''async () => {
  while (!document.querySelector("[data-testid=composer]")) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now();
}'''


def reply(n: int) -> str:
    return (f'Reply {n}: here is how the **loader** reads a batch, and what to watch for.\n\n'
            '1. Open the file and read its header.\n2. Check the `schema` field against the table.\n'
            '3. Stream the rows in chunks of a thousand.\n\n'
            '```python\ndef load(path: str) -> int:\n    with open(path) as source:\n'
            '        header = source.readline()\n        return sum(1 for _ in source)\n```\n\n'
            'A row that fails validation is logged with its line number and skipped, so one bad line does not '
            'stop the import. The counts at the end tell how many were read, kept and skipped. ' * 2)


def seed(database: Path, messages: int) -> str:
    """A conversation of `messages` messages for the app's local user, written with plain SQL (any schema version
    from 0006 on), its replies' HTML kept."""
    html = {n: render_markdown(reply(n)) for n in range(messages // 2)}
    conversation = str(uuid.uuid4())
    now = time.strftime('%Y-%m-%d %H:%M:%S')
    with sqlite3.connect(database) as db:
        user = db.execute("SELECT id FROM user WHERE provider = 'local'").fetchone()[0]
        db.execute("INSERT INTO conversation (id, user_id, title, title_source, model, model_answers, shared, "
                   "created_at, updated_at) VALUES (?, ?, ?, 'person', '', 'every', 0, ?, ?)",
                   (conversation, user, f'{messages} messages', now, now))
        parent = None
        for n in range(messages):
            role, content = ('user', f'Question {n // 2}') if n % 2 == 0 else ('assistant', reply(n // 2))
            parent = db.execute(
                'INSERT INTO message (conversation_id, parent_id, author_id, role, content, html, status, error, '
                "model, usage_estimated, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'complete', '', '', 0, "
                '?, ?)', (conversation, parent, user if role == 'user' else None, role, content,
                          html.get(n // 2) if role == 'assistant' else None, now, now)).lastrowid
        db.execute('UPDATE conversation SET leaf_id = ? WHERE id = ?', (parent, conversation))
    return conversation


def fetch(url: str) -> None:
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()


def server_ms(url: str) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fetch(url)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def measure(app: DiagApp, conversation: str, messages: int, browser) -> dict[str, float]:
    url = f'{app.url}/c/{conversation}'
    server = await asyncio.to_thread(server_ms, url)
    await asyncio.sleep(1)
    await diagnostics(app.url)  # resets the stall
    newest = NEWEST_DRAWN_JS.replace('LAST', str(messages // 2 - 1))
    paint, warm = await paint_ms(browser, url, newest)
    seen = await diagnostics(app.url)
    stall, collection = seen['loop_lag_max'] * 1000, seen['gc_pause_max'] * 1000
    await diagnostics(app.url, trim=True)
    await asyncio.sleep(1)
    before = rss_mb(app.pid)
    context = await browser.new_context(viewport={'width': 1280, 'height': 900})
    for _ in range(PAGES):
        page = await context.new_page()
        await page.goto(url, wait_until='commit')
        await page.evaluate(newest)
    await asyncio.sleep(1)
    await diagnostics(app.url, trim=True)
    page_mb = (rss_mb(app.pid) - before) / PAGES
    await context.close()
    return {'server': server, 'paint': paint, 'warm': warm, 'stall': stall, 'gc': collection, 'page_mb': page_mb}


async def paint_ms(browser, url: str, drawn_js: str) -> tuple[float, float]:
    """The median time from navigation start to what `drawn_js` waits for being drawn, in a fresh profile (cold)
    and when opened again in it (warm)."""
    cold, warm = [], []
    for _ in range(RUNS):
        context = await browser.new_context(viewport={'width': 1280, 'height': 900})
        page = await context.new_page()
        for paints in (cold, warm):
            await page.goto(url, wait_until='commit')
            paints.append(await page.evaluate(drawn_js))
        await context.close()
    return statistics.median(cold), statistics.median(warm)


async def run(name: str, pythonpath: str | None, sizes: list[int], browser) -> dict[int, dict[str, float]]:
    results = {}
    with tempfile.TemporaryDirectory() as root:
        settings = {'PYTHONPATH': pythonpath} if pythonpath else {}
        app = DiagApp(Path(root), **settings)
        app.start()
        try:
            await asyncio.to_thread(fetch, app.url + '/')  # the local user
            floor, warm = await paint_ms(browser, app.url + '/', COMPOSER_DRAWN_JS)
            results[0] = {'server': await asyncio.to_thread(server_ms, app.url + '/'), 'paint': floor, 'warm': warm,
                          'stall': float('nan'), 'gc': float('nan'), 'page_mb': float('nan')}
            print(f'  {name}, a new chat (the floor): {results[0]}', flush=True)
            for size in sizes:
                results[size] = await measure(app, seed(app.database, size), size, browser)
                print(f'  {name}, {size:,} messages: {results[size]}', flush=True)
        finally:
            app.stop()
    return results


def worktree(revision: str) -> Path:
    path = Path(tempfile.gettempdir()) / f'chatapp-{revision}'
    if not path.exists():
        subprocess.run(['git', '-C', str(ROOT), 'worktree', 'add', '--detach', str(path), revision], check=True)
    return path


def print_table(results: dict[str, dict[int, dict[str, float]]]) -> None:
    print('\n| app | messages | server (ms) | first paint, cold (ms) | warm (ms) | longest stall (ms) | '
          'of which a collection (ms) | page (MB) |')
    print('|---|---|---|---|---|---|---|---|')
    for name, sizes in results.items():
        for size, r in sizes.items():
            print(f"| {name} | {size or 'new chat'} | {r['server']:.0f} | {r['paint']:.0f} | {r['warm']:.0f} | "
                  f"{r['stall']:.0f} | {r['gc']:.0f} | {r['page_mb']:.2f} |")


async def main_async(args: argparse.Namespace) -> None:
    sizes = [int(n) for n in args.messages.split(',')]
    results = {}
    async with async_playwright() as playwright:
        browser = await launch(playwright.chromium)
        results['chatapp'] = await run('chatapp', None, sizes, browser)
        if args.before:
            results[f'before ({args.before})'] = await run('before', str(worktree(args.before)), sizes, browser)
        await browser.close()
    print_table(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--messages', default='60,2000', help='conversation sizes, comma-separated')
    parser.add_argument('--before', default='', help='a git revision to measure in the same run, as the reference')
    asyncio.run(main_async(parser.parse_args()))


if __name__ == '__main__':
    main()
