"""The browser's floor: what Chromium itself costs per update of a growing text, on this machine.

    .venv/bin/python bench/browser_floor.py [--tokens 1000 --rate 50]

A static page (no server, no socket, no framework) appends the same tokens stream_bench.py streams, as text, in
the page's own timer: one update per token, and one update per 50 ms (as the throttled NiceGUI page shows
its text). Each way once with the text inside the screen and once with the page following a reply longer than
the screen. Prints Chromium's CPU over all its processes per 1,000 tokens, and per update: no app can show a
token on its own for less. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from stream_bench import NICEGUI_UI, browser_process, chromium_processes, cpu_seconds, observer_js  # noqa: E402

from tests.support.browser import launch  # noqa: E402
from tests.support.fake_llm import make_tokens  # noqa: E402

PAGE = '''<!doctype html><meta charset="utf-8"><style>body { font: 16px/1.5 sans-serif; max-width: 760px;
margin: 24px auto; } p { margin: 0 0 12px; }</style><div id="reply"><p></p></div><script>
const tokens = __TOKENS__, every = __EVERY__, follow = __FOLLOW__;
let shown = 0, at = performance.now(), waiting = "";
const paragraph = () => document.querySelector("#reply").lastElementChild;
const add = (text) => {
  const parts = text.split("\\n\\n");  // a blank line starts a new paragraph
  parts.forEach((part, i) => {
    if (i) document.querySelector("#reply").append(document.createElement("p"));
    if (part) paragraph().append(part);
  });
  if (follow) requestAnimationFrame(() => window.scrollTo({ top: document.documentElement.scrollHeight }));
};
const tick = () => {
  waiting += tokens[shown++];
  if (!every || shown === tokens.length || performance.now() - at >= every) {
    add(waiting);
    waiting = "";
    at = performance.now();
  }
  if (shown < tokens.length) setTimeout(tick, Math.max(0, __SPACING__ * shown - (performance.now() - start)));
  else window.done = true;
};
let start = performance.now();
window.go = () => { start = at = performance.now(); shown = 0; waiting = ""; tick(); };
</script>'''


async def measure(playwright, tokens: list[str], rate: float, every_ms: int, follow: bool, observed: bool) -> dict:
    before = chromium_processes()
    browser = await launch(playwright.chromium)
    try:
        root = browser_process(before)
        context = await browser.new_context(viewport={'width': 1280, 'height': 800})
        if observed:  # as stream_bench.py watches a page: its MutationObserver, CDP's network and performance
            await context.add_init_script(observer_js(replace(NICEGUI_UI, reply='#reply', row='#reply', busy='false')))
        page = await context.new_page()
        if observed:
            cdp = await context.new_cdp_session(page)
            cdp.on('Network.webSocketFrameReceived', lambda _: None)
            await cdp.send('Network.enable')
            await cdp.send('Performance.enable')
        text = tokens if follow else tokens[:60]  # inside the screen: a short text, shown again and again
        html = (PAGE.replace('__TOKENS__', json.dumps(text)).replace('__EVERY__', str(every_ms))
                .replace('__FOLLOW__', 'true' if follow else 'false').replace('__SPACING__', str(1000 / rate)))
        await page.set_content(html)
        await page.wait_for_timeout(1000)
        rounds = 1 if follow else len(tokens) // len(text)
        cpu0 = cpu_seconds(root)
        for _ in range(rounds):
            await page.evaluate('document.querySelector("#reply").innerHTML = "<p></p>"; window.done = false; go()')
            await page.wait_for_function('window.done === true', polling=100, timeout=600_000)
        cpu = cpu_seconds(root) - cpu0
        updates = len(tokens) if not every_ms else round(len(tokens) / rate * 1000 / every_ms)
        return {'cpu_per_1k': cpu / len(tokens) * 1000, 'updates': updates, 'ms_per_update': cpu / updates * 1000}
    finally:
        await browser.close()


async def main_async(args: argparse.Namespace) -> None:
    from playwright.async_api import async_playwright
    tokens = make_tokens(args.tokens)
    print(f'browser floor: {args.tokens} tokens at {args.rate:g}/s, a static page appending text (all Chromium '
          'processes)')
    print(f'{"updates":<26}{"text":<18}{"browser s/1k":>13}{"updates":>9}{"ms/update":>11}')
    async with async_playwright() as playwright:
        for every_ms, label in ((0, 'one per token'), (50, 'one per 50 ms')):
            for follow, where in ((False, 'in the screen'), (True, 'page following')):
                result = await measure(playwright, tokens, args.rate, every_ms, follow, args.observed)
                print(f'{label:<26}{where:<18}{result["cpu_per_1k"]:>13.2f}{result["updates"]:>9}'
                      f'{result["ms_per_update"]:>11.2f}', flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--tokens', type=int, default=1000)
    parser.add_argument('--rate', type=float, default=50.0)
    parser.add_argument('--observed', action='store_true',
                        help="with stream_bench.py's instruments: its MutationObserver, CDP's network and performance")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == '__main__':
    main()
