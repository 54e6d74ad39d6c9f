"""Streaming benchmark: what one streamed reply costs chatapp, against its peers on the same stream, and a floor.

    .venv/bin/python bench/stream_bench.py [--tokens 2000 --rate 100 --pages 1]
    .venv/bin/python bench/stream_bench.py --scenario everyday|fast|crowd|long|all  # a table for each

1. Starts tests/support/fake_llm.py, an OpenAI chat-completions SSE server on loopback that streams --tokens
   tokens of Markdown at --rate tokens/s and records when it wrote each token.
2. Starts `python -m chatapp` against it (fresh data dir), opens --pages pages in headless Chromium,
   sends a prompt from each and watches the reply grow with a MutationObserver, while CDP counts the
   websocket payload and the renderer's main-thread time, and /proc gives the app's CPU and RSS.
   With --room the pages are --pages people (logged in through the test OIDC provider, tests/oidc) in one
   conversation shared by the first: only the first sends, and its one reply streams to every page.
3. Does the same with the peers: bench/naive_app.py (one ui.markdown, set_content with the whole text per token),
   the same throttled to one update per 50 ms, and bench/chainlit_app.py (Chainlit, from its own venv
   .venv-chainlit; skipped when that is not installed). Each phase has a Chromium of its own, so the CPU of all
   its processes (/proc) is that phase's.
4. Runs bench/floor.py: a bare ChatOpenAI.astream loop that renders nothing.
Prints a table; the raw numbers go to bench/results/ (ignored by git). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import json
import math
import os
import pstats
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))  # tests.support: the processes, the model server and Chromium, as the tests have them

import trace_summary  # noqa: E402

from tests.support.browser import launch  # noqa: E402
from tests.support.environment import clean_environment  # noqa: E402
from tests.support.net import free_port, loopback_opener  # noqa: E402
from tests.support.oidc import PASSWORD, OIDCProvider  # noqa: E402
from tests.support.oidc import install as install_oidc_provider  # noqa: E402
from tests.support.processes import Process, rss_mb  # noqa: E402
from tests.support.servers import FakeLLM  # noqa: E402

RESULTS = BENCH / 'results'
# Chainlit's page asks for web fonts and KaTeX's style sheet from CDNs: every page is kept to loopback by name
# resolution, not by Playwright's request interception, which would turn the browser's HTTP cache off and make
# a page load again, inside the measured window, every script and font it loaded before
LOOPBACK_ONLY = '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'
PYTHON = sys.executable
CLK_TCK = os.sysconf('SC_CLK_TCK')
CHAINLIT_VERSION = '2.12.0'
CHAINLIT = ROOT / '.venv-chainlit' / 'bin' / 'chainlit'
CHAINLIT_INSTALL = (f'python3 -m venv .venv-chainlit && .venv-chainlit/bin/pip install chainlit=={CHAINLIT_VERSION} '
                    'langchain-openai==1.8.1')  # the langchain-openai of requirements.lock: the same model client
# variables Chainlit's command line reads as its own flags (click's envvar), and its data layers' settings
CHAINLIT_UNSET = ('CI', 'DEBUG', 'WATCH', 'HEADLESS', 'NO_CACHE', 'RUN_TARGET', 'LITERAL_API_KEY', 'DATABASE_URL')
THROTTLE_MS = 50  # the throttled page: one set_content per 50 ms at most
APPS = ('chatapp', 'naive', 'throttled', 'chainlit')  # the browser phases, in the tables' order
SCENARIOS = {  # name: tokens, tokens per second, pages
    'everyday': (1000, 50.0, 1),
    'fast': (2000, 100.0, 1),
    'crowd': (300, 30.0, 20),
    'long': (20_000, 100.0, 1),
}


@dataclass(frozen=True)
class AppUI:
    """How the harness drives an app's page, and how the observer reads its last reply."""
    reply: str  # the reply's content: the last element that matches is measured
    row: str  # a reply's row
    busy: str  # JavaScript over `row` (the last row): true while that reply is not finished
    composer: str  # where the person types the prompt; Enter sends
    ready: str  # shown once the page can send
    reply_frame: re.Pattern | None = None  # a websocket frame with reply text (for "first token received")
    ignore: str = ''  # elements inside the reply whose text is not the reply's


NICEGUI_UI = AppUI(reply='[data-testid=message-assistant] .reply-md', row='[data-testid=message-assistant]',
                   busy="row.classList.contains('streaming')", composer='[data-testid=composer]',
                   ready='[data-testid=composer]')
CHATAPP_UI = replace(NICEGUI_UI, reply_frame=re.compile(r'^42\["ra",'))  # an update of a streaming reply
# Chainlit 2.12's page (React): a reply is a step of type assistant_message. The composer shows a stop button
# (#stop-button) while the message handler runs, which ends after msg.send(). Its attach button is
# #upload-button-loading until the session's socket is up (an Enter before that is lost). A code block's header
# shows its language (a muted span) where the Markdown had only the fence's tag, which is not the reply's text.
CHAINLIT_UI = AppUI(reply='[data-step-type=assistant_message] .message-content',
                    row='[data-step-type=assistant_message]', busy="!!document.getElementById('stop-button')",
                    composer='#chat-input', ready='#upload-button', reply_frame=re.compile(r'"stream_(start|token)"'),
                    ignore='.text-muted-foreground')

# Installed in every page before its scripts run. It records (Date.now(), text length, letters and
# digits) of the last reply each time its text changes. Letters and digits are what the harness maps
# to tokens: Markdown syntax (list markers, fences, **) disappears when a block is rendered, words do not.
OBSERVER_JS = '''(() => {
  const SELECTOR = __SELECTOR__, ROW = __ROW__, IGNORE = __IGNORE__;
  const NON_ALNUM = /[^A-Za-z0-9]+/g;
  const FENCE = /`{3,}[A-Za-z0-9_-]*/g;  // a fence and its language tag: shown only while unrendered
  const state = {events: [], lastLength: -1, finishedAt: null, sentAt: null};
  window.__bench = state;
  window.__benchReset = () => {
    state.events = []; state.lastLength = -1; state.finishedAt = null; state.sentAt = null;
  };
  // when the page got the Enter that sends: the start of the person's wait for the first token
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && state.sentAt === null) state.sentAt = Date.now();
  }, true);
  const alnum = (text) => text.replace(FENCE, '').replace(NON_ALNUM, '').length;
  // the last reply is there and finished (each app marks that its own way)
  window.__benchDone = () => {
    const rows = document.querySelectorAll(ROW);
    const row = rows[rows.length - 1];
    return !!row && !(__BUSY__);
  };
  // chatapp's reply only appends rendered blocks (in sections): count each finished section once, so
  // measuring a 20,000-token reply costs the page the same per token at the end as at the start
  const counts = new WeakMap();
  const count = (element) => {
    const blocks = element.children[0], tail = element.querySelector(':scope > .reply-tail');
    if (!tail) {
      const text = element.textContent;
      let length = text.length, letters = alnum(text);
      if (IGNORE) for (const node of element.querySelectorAll(IGNORE)) {
        length -= node.textContent.length;
        letters -= alnum(node.textContent);
      }
      return [length, letters];
    }
    let length = 0, letters = 0;
    const nodes = blocks.childNodes;
    for (let i = 0; i < nodes.length; i++) {
      let known = counts.get(nodes[i]);
      if (!known) {
        const text = nodes[i].textContent;
        known = [text.length, alnum(text)];
        if (i < nodes.length - 1) counts.set(nodes[i], known);  // the last section may still grow
      }
      length += known[0];
      letters += known[1];
    }
    const text = tail.textContent;
    return [length + text.length, letters + alnum(text)];
  };
  const measure = () => {
    if (state.events.length && state.finishedAt === null && window.__benchDone()) state.finishedAt = Date.now();
    const all = document.querySelectorAll(SELECTOR);
    const element = all[all.length - 1];
    if (!element) return;
    const [length, letters] = count(element);
    if (length === state.lastLength) return;
    state.lastLength = length;
    state.events.push([Date.now(), length, letters]);
  };
  new MutationObserver(measure).observe(document, {childList: true, subtree: true, characterData: true,
                                                   attributes: true, attributeFilter: ['class']});
})();'''
REPLY_DONE_JS = '() => window.__benchDone() && window.__bench.events.length > 0'
STEADY_AFTER_SECONDS = 2.0  # a second p95 leaves out the start, where N pages sending at once queue up

_loopback = loopback_opener()

try:
    from playwright.async_api import TimeoutError as PlaywrightTimeout
except ImportError:  # reported properly when the browser is needed
    PlaywrightTimeout = TimeoutError


# --- small helpers -----------------------------------------------------------------------------------

def http(url: str, *, method: str = 'GET', timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, data=b'' if method == 'POST' else None)
    with _loopback.open(request, timeout=timeout) as response:
        return response.status, response.read()


def http_json(url: str, *, method: str = 'GET', timeout: float = 10.0) -> dict:
    return json.loads(http(url, method=method, timeout=timeout)[1])


def proc_stat(pid: int) -> list[str]:
    """/proc/<pid>/stat from its third field (state) on: the name before it may hold spaces."""
    with open(f'/proc/{pid}/stat') as stat:
        return stat.read().rsplit(')', 1)[1].split()


def process_tree(root: int) -> list[int]:
    """A process and all its descendants, alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                children.setdefault(int(proc_stat(int(entry))[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        tree.append(todo.pop())
        todo += children.get(tree[-1], [])
    return tree


def cpu_seconds(pid: int) -> float:
    """CPU time (utime + stime) of a process and its descendants, from /proc/<pid>/stat. Each counts the children
    it has reaped (cutime + cstime), so a process that ended within a window still adds its share: chatapp's
    render worker, Chromium's renderers of closed pages."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):  # ended just now: its parent's cutime has it
            fields = proc_stat(member)
            total += sum(int(value) for value in fields[11:15])  # fields 14-17 of proc(5)
    return total / CLK_TCK


def chromium_processes() -> dict[int, int]:
    """The Chromium processes this harness started (through Playwright's driver): pid -> parent pid."""
    found = {}
    for pid in process_tree(os.getpid()):
        with contextlib.suppress(OSError):
            if os.path.basename(os.readlink(f'/proc/{pid}/exe')).startswith('chromium'):
                found[pid] = int(proc_stat(pid)[1])
    return found


def browser_process(before: dict[int, int]) -> int:
    """The browser process of the Chromium launched since `before` (chromium_processes()): the root of its tree
    of renderers, GPU, network and utility processes."""
    new = {pid: parent for pid, parent in chromium_processes().items() if pid not in before}
    roots = [pid for pid, parent in new.items() if parent not in new]
    if len(roots) != 1:
        raise RuntimeError(f'expected one new Chromium browser process, found {roots}')
    return roots[0]


def machine_busy() -> float:
    """CPU seconds all processes of the machine have used since boot (every core), from /proc/stat."""
    with open('/proc/stat') as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


def tcp_bytes_sent(port: int) -> dict[str, int]:
    """TCP payload bytes the server on `port` has sent, per connection (peer address): what browsers received
    on the wire, after permessage-deflate, before TCP/IP headers."""
    out = subprocess.run(['ss', '-tinH', 'state', 'established', f'( sport = :{port} )'],
                         capture_output=True, text=True, timeout=10).stdout
    sent, peer = {}, None
    for line in out.splitlines():
        if not line[:1].isspace():
            peer = line.split()[-1]
        elif peer and (match := re.search(r'bytes_sent:(\d+)', line)):
            sent[peer] = int(match.group(1))
    return sent


def wire_bytes(before: dict[str, int], after: dict[str, int]) -> int:
    return sum(sent - before.get(peer, 0) for peer, sent in after.items())


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = math.floor(k), math.ceil(k)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


# --- one browser phase ---------------------------------------------------------------------------------

@dataclass
class PageProbe:
    index: int
    prompt: str
    page: object
    context: object
    cdp: object
    ws: dict = field(default_factory=lambda: {'on': False, 'bytes': 0, 'frames': 0, 'http': 0})
    perf0: dict = field(default_factory=dict)
    perf1: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    finished_at: float | None = None
    sent_at: float | None = None  # wall time the page got the Enter that sent the prompt
    cut_at: float | None = None  # still not finished --grace seconds after the model's last token
    console: list = field(default_factory=list)  # the first errors and warnings of the browser's console
    console_count: int = 0  # errors and warnings in the measured window
    clock: tuple[float, float] | None = None  # (CDP monotonic, wall) at the websocket handshake
    first_frame_at: float | None = None  # wall time the first frame with reply text arrived
    navigations: int = 0  # main-frame loads after the window opened: a forced reload loses the page
    samples: list = field(default_factory=list)  # (time, renderer main-thread seconds) during the window


async def perf_metrics(cdp) -> dict[str, float]:
    answer = await cdp.send('Performance.getMetrics')
    return {m['name']: m['value'] for m in answer['metrics']}


def observer_js(ui: AppUI) -> str:
    return (OBSERVER_JS.replace('__SELECTOR__', json.dumps(ui.reply)).replace('__ROW__', json.dumps(ui.row))
            .replace('__IGNORE__', json.dumps(ui.ignore)).replace('__BUSY__', ui.busy))


async def open_page(browser, index: int, url: str, ui: AppUI, prompt: str, *, login: str = '') -> PageProbe:
    """A page at `url` with the observer; `login`: signed in as this person first (a --room reader)."""
    context = await browser.new_context(viewport={'width': 1280, 'height': 800})
    await context.add_init_script(observer_js(ui))
    page = await context.new_page()
    if login:
        await log_in(page, url, login)
    cdp = await context.new_cdp_session(page)
    probe = PageProbe(index, prompt, page, context, cdp)

    def on_console(message) -> None:
        if message.type in ('error', 'warning'):
            probe.console_count += probe.ws['on']
            if len(probe.console) < 50:
                probe.console.append(f'{message.type}: {message.text}'[:500])

    page.on('console', on_console)

    def on_frame(params: dict) -> None:
        if probe.ws['on']:
            payload = params['response'].get('payloadData', '')
            probe.ws['bytes'] += len(payload.encode())
            probe.ws['frames'] += 1
            if probe.first_frame_at is None and probe.clock and ui.reply_frame and ui.reply_frame.search(payload):
                probe.first_frame_at = probe.clock[1] + params['timestamp'] - probe.clock[0]

    def on_handshake(params: dict) -> None:  # CDP stamps frames on a monotonic clock: map it to wall time
        probe.clock = (params['timestamp'], params['wallTime'])

    def on_loaded(params: dict) -> None:  # an HTTP response (a script, a font) the page loaded in the window
        if probe.ws['on']:
            probe.ws['http'] += params.get('encodedDataLength', 0)

    cdp.on('Network.webSocketFrameReceived', on_frame)
    cdp.on('Network.loadingFinished', on_loaded)
    cdp.on('Network.webSocketWillSendHandshakeRequest', on_handshake)
    page.on('load', lambda _: setattr(probe, 'navigations', probe.navigations + 1) if probe.ws['on'] else None)
    await cdp.send('Network.enable')
    await cdp.send('Performance.enable')
    try:
        await page.goto(url, wait_until='load')
        await page.locator(ui.ready).wait_for(state='visible', timeout=30_000)
    except Exception:
        await save_failure(page, f'open-page-{index}')
        await context.close()
        raise
    return probe


async def log_in(page, url: str, login: str) -> None:
    """Through the app's login page and the provider's own sign-in page, back to `url`."""
    await page.goto(url, wait_until='load')
    await page.click('[data-testid=login-oidc]')
    await page.fill('input[name=login]', login)
    await page.fill('input[name=password]', PASSWORD)
    await page.click('button[type=submit]')
    await page.wait_for_url(url, timeout=30_000)


async def share_room(probes: list[PageProbe], url: str) -> str:
    """The first page's person starts a conversation (its reply warms the app up) and brings every other page's
    person in as a participant; every page then opens it. Its URL."""
    owner = probes[0].page
    await send_prompt(owner, 'warmup please')
    await owner.wait_for_function(REPLY_DONE_JS, polling=100, timeout=30_000)
    await owner.get_by_test_id('share-button').click()
    for probe in probes[1:]:
        email = reader_login(probe.index)
        await owner.locator('input[data-testid=share-search]').fill(email)
        await owner.get_by_test_id('share-result').filter(has_text=email).get_by_test_id(
            'share-add-participant').click()
        await owner.get_by_test_id('share-member').filter(has_text=email.split('@')[0].title()).wait_for()
    await owner.get_by_test_id('share-done').click()
    room = owner.url
    for probe in probes:
        await probe.page.goto(room, wait_until='load')
        await probe.page.locator('[data-testid=message-assistant]').first.wait_for(timeout=30_000)
    await owner.locator('[data-testid=composer]').wait_for(state='visible', timeout=30_000)
    return room


def reader_login(index: int) -> str:
    return f'reader{index}@example.com'


async def save_failure(page, label: str) -> None:
    """Keep what the page showed when a step failed: bench/results/failure-<label>.png/.html/.log."""
    RESULTS.mkdir(exist_ok=True)
    with contextlib.suppress(Exception):
        await page.screenshot(path=str(RESULTS / f'failure-{label}.png'), timeout=5_000)
    with contextlib.suppress(Exception):
        (RESULTS / f'failure-{label}.html').write_text(await page.content())
    print(f'  failed at {label}; page saved as bench/results/failure-{label}.*', file=sys.stderr)


async def send_prompt(page, text: str, composer: str = NICEGUI_UI.composer) -> None:
    box = page.locator(composer)
    await box.fill(text)
    await box.press('Enter')


async def run_ui_phase(name: str, browser, url: str, ui: AppUI, pid: int, llm: str, args,
                       process: Process, browser_pid: int | None = None) -> dict:
    """Stream into the pages of the app at `url` (its server: `pid`) and measure; `browser_pid`: the browser
    process of a Chromium of this phase's own, whose processes' CPU is then measured too."""
    timeout = args.tokens / args.rate * 4 + 60
    room = args.room and name == 'chatapp'
    probes = [await open_page(browser, i, url, ui,
                              f'bench {name} page {0 if room else i}: write a long answer',
                              login=reader_login(i) if room else '')
              for i in range(args.pages)]
    senders = probes[:1] if room else probes  # in a room one person asks, and everybody reads the reply
    try:
        if room:
            url = await share_room(probes, url)
        elif not args.no_warmup:  # first-use costs (imports, pygments lexers, first DB writes) stay out
            for probe in probes:
                await send_prompt(probe.page, 'warmup please', ui.composer)
                await probe.page.wait_for_function(REPLY_DONE_JS, polling=100, timeout=30_000)
                await probe.page.goto(url, wait_until='load')
                await probe.page.locator(ui.ready).wait_for(state='visible', timeout=20_000)
        await asyncio.to_thread(http_json, f'{llm}/reset', method='POST')
        for probe in senders:
            await probe.page.locator(ui.composer).fill(probe.prompt)
        await asyncio.sleep(0.5)  # let the typing settle on the server before the window opens
        for probe in probes:
            await probe.page.evaluate('window.__benchReset()')
            probe.perf0 = await perf_metrics(probe.cdp)
            probe.ws['on'] = True
        print(f'[{elapsed()}]   page(s) open{"" if args.no_warmup else " and warmed up"}; measuring', flush=True)
        port = int(url.rsplit(':', 1)[1].split('/')[0])
        rss0, cpu0, wall0, busy0 = rss_mb(pid), cpu_seconds(pid), time.time(), machine_busy()
        browser0 = cpu_seconds(browser_pid) if browser_pid else math.nan
        wire0 = tcp_bytes_sent(port)
        cpu_samples = [(wall0, cpu0)]
        if args.profile and name == 'chatapp':
            process.signal(signal.SIGUSR1)
        if args.js_profile:
            await probes[0].cdp.send('Profiler.enable')
            await probes[0].cdp.send('Profiler.setSamplingInterval', {'interval': 200})
            await probes[0].cdp.send('Profiler.start')
        if args.trace:
            await browser.start_tracing(page=probes[0].page, categories=trace_summary.CATEGORIES.split(','))
        await asyncio.gather(*(probe.page.locator(ui.composer).press('Enter') for probe in senders))

        deadline = time.monotonic() + timeout
        while True:  # the model server has written every token of every page's reply
            state = await asyncio.to_thread(http_json, f'{llm}/status')
            streams = [s for s in state['streams'] if not s['warmup']]
            if args.pages <= 2:  # a cost timeline: does the end of a long reply cost more than its start?
                cpu_samples.append((time.time(), cpu_seconds(pid)))
                for probe in probes:
                    probe.samples.append((time.time(), (await perf_metrics(probe.cdp)).get('TaskDuration', 0.0)))
            if len(streams) >= len(senders) and all(s['done'] for s in streams):
                break
            if not process.alive():
                raise RuntimeError(f'{name} exited:\n{process.tail()}')
            if time.monotonic() > deadline:
                raise TimeoutError(f'{name}: the model server did not finish {len(senders)} stream(s) in time')
            # an app that reads the model's stream slower than it comes holds the model back (TCP): give up once
            # it is --grace seconds behind, rather than wait for a quadratic page to finish 20,000 tokens
            behind = min(args.tokens, (time.time() - wall0 - args.grace) * args.rate)
            if slow := [s['written'] for s in streams if not s['done'] and s['written'] < behind]:
                raise RuntimeError(f'gave up {time.time() - wall0:.0f} s in: the app read {min(slow)} of '
                                   f'{args.tokens} tokens, over {args.grace:g} s behind the model')
            await asyncio.sleep(0.5)
        cutoff = time.monotonic() + args.grace
        for probe in probes:  # ... and every page shows its reply finished, or is cut off after --grace
            remaining = max(0.5, cutoff - time.monotonic())
            try:
                await probe.page.wait_for_function(REPLY_DONE_JS, polling=100, timeout=remaining * 1000)
            except PlaywrightTimeout:
                probe.cut_at = time.time()
        cpu1, wall1, busy1 = cpu_seconds(pid), time.time(), machine_busy()
        browser1 = cpu_seconds(browser_pid) if browser_pid else math.nan
        wire1 = tcp_bytes_sent(port)
        cpu_samples.append((wall1, cpu1))
        print(f'[{elapsed()}]   done', flush=True)
        if args.profile and name == 'chatapp':
            process.signal(signal.SIGUSR2)
        if args.js_profile:
            profile = (await probes[0].cdp.send('Profiler.stop'))['profile']
            (RESULTS / f'{name}-js.cpuprofile').write_text(json.dumps(profile))
            print(f'{name}: the page\'s script, own time per function (sampled, s per 1k tokens):\n'
                  + js_profile_summary(profile, args.tokens), flush=True)
        if args.trace:
            trace = json.loads(await browser.stop_tracing())
            (RESULTS / f'{name}-trace.json').write_text(json.dumps(trace))
            print(f'{name}: browser CPU per thread and kind of work, s per 1k tokens (traced, so slower):\n'
                  + trace_summary.summarize(trace, args.tokens * len(probes)), flush=True)
        for probe in probes:
            probe.perf1 = await perf_metrics(probe.cdp)
            probe.samples.append((time.time(), probe.perf1.get('TaskDuration', 0.0)))
        await asyncio.sleep(0.3)  # CDP events still in flight
        for probe in probes:
            probe.ws['on'] = False
            probe.events = await probe.page.evaluate('window.__bench.events')
            probe.finished_at = await probe.page.evaluate('window.__bench.finishedAt')
            sent_at = await probe.page.evaluate('window.__bench.sentAt')
            probe.sent_at = sent_at / 1000 if sent_at else None
        rss1 = rss_mb(pid)
        state = await asyncio.to_thread(http_json, f'{llm}/tokens')
    finally:
        for probe in probes:
            with contextlib.suppress(Exception):
                await probe.context.close()
    result = analyse(name, args, state, probes, cpu1 - cpu0, wall1 - wall0, rss0, rss1)
    result['machine_cores_busy'] = (busy1 - busy0) / (wall1 - wall0)
    result['browser_cpu_s'] = browser1 - browser0
    result['browser_cpu_per_1k'] = result['browser_cpu_s'] / (result['tokens'] * len(probes)) * 1000
    result['wire_bytes'] = wire_bytes(wire0, wire1)
    result['wire_ratio'] = result['wire_bytes'] / (result['reply_bytes'] * len(probes))
    result['wire_per_reply_kb'] = result['wire_bytes'] / len(probes) / 1024
    result['reloads'] = sum(probe.navigations for probe in probes)
    result.update(first_and_last_1k(state, probes, cpu_samples))
    result['console'] = [line for probe in probes for line in probe.console][:50]
    result['console_count'] = sum(probe.console_count for probe in probes)
    return result


def analyse(name: str, args, state: dict, probes: list[PageProbe], cpu: float, wall: float,
            rss0: float, rss1: float) -> dict:
    tokens = state['tokens']
    weights = state['visible_alnum']
    cumulative, total = [], 0
    for w in weights:
        total += w
        cumulative.append(total)
    reply_bytes = len(''.join(tokens).encode())
    streams = {s['prompt']: s for s in state['streams'] if not s['warmup']}
    lags, first, last, finished, checks, raw = [], [], [], [], [], []
    waits: list[float] = []  # Enter to the first token shown, less the model's own time to its first token
    first_received: list[float] = []  # the browser received the first reply text (before showing it)
    steady: list[float] = []  # lags of tokens written once the replies were under way
    censored = 0
    for probe in probes:
        stream = streams.get(probe.prompt)
        if stream is None:
            raise RuntimeError(f'{name}: no model stream for page {probe.index}')
        times = stream['times']
        events = probe.events
        shown, e = 0, 0  # running maximum of letters shown, and the next event
        page_lags: list[float] = []
        for i, need in enumerate(cumulative):
            if weights[i] == 0:
                continue
            while shown < need and e < len(events):
                shown = max(shown, events[e][2])
                e += 1
            if shown < need:
                if probe.cut_at:  # not shown by the cut-off: its lag is at least this
                    censored += 1
                    page_lags.append(probe.cut_at - times[i])
                    continue
                break  # never shown
            page_lags.append(events[e - 1][0] / 1000 - times[i])
            if times[i] - times[0] >= STEADY_AFTER_SECONDS:
                steady.append(page_lags[-1])
        first_word = next(i for i, w in enumerate(weights) if w)
        first_shown = next((ev[0] / 1000 for ev in events if ev[2] >= cumulative[first_word]), math.nan)
        first.append(first_shown - times[0])
        if probe.sent_at is not None:
            waits.append(first_shown - probe.sent_at - (times[0] - stream['received']))
        if probe.first_frame_at is not None:
            first_received.append(probe.first_frame_at - times[0])
        last.append(events[-1][0] / 1000 - times[-1] if events and not probe.cut_at
                    else probe.cut_at - times[-1] if probe.cut_at else math.nan)
        finished.append(probe.finished_at / 1000 - times[-1] if probe.finished_at
                        else probe.cut_at - times[-1] if probe.cut_at else math.nan)
        early = sum(1 for lag in page_lags if lag < 0)  # shown before written: the mapping is off
        raw.append({'events': events, 'finished_at': probe.finished_at, 'times': times, 'early': early,
                    'sent_at': probe.sent_at, 'received': stream['received']})
        final = events[-1][2] if events else 0
        checks.append((final, total, len(page_lags), sum(1 for w in weights if w)))
        lags += page_lags
    n_tokens = len(tokens) * len(probes)
    cut = [p.index for p in probes if p.cut_at]
    complete = all(c[0] == c[1] and c[2] == c[3] for c in checks) or bool(cut)
    if not complete:  # the page lost text: token timings would be made up, so none are reported
        lags, first, last = [], [math.nan], [math.nan]
    task = sum(p.perf1.get('TaskDuration', 0) - p.perf0.get('TaskDuration', 0) for p in probes)
    script = sum(p.perf1.get('ScriptDuration', 0) - p.perf0.get('ScriptDuration', 0) for p in probes)
    layout = sum(p.perf1.get('LayoutDuration', 0) - p.perf0.get('LayoutDuration', 0)
                 + p.perf1.get('RecalcStyleDuration', 0) - p.perf0.get('RecalcStyleDuration', 0) for p in probes)
    ws_bytes = sum(p.ws['bytes'] for p in probes)
    updates = sum(len(p.events) for p in probes)
    return {
        'name': name, 'pages': len(probes), 'tokens': len(tokens), 'reply_bytes': reply_bytes,
        'wall_s': wall, 'cpu_s': cpu, 'cpu_per_1k': cpu / n_tokens * 1000,
        'ws_bytes': ws_bytes, 'ws_frames': sum(p.ws['frames'] for p in probes),
        'http_in_window_kb': sum(p.ws['http'] for p in probes) / len(probes) / 1024,
        'ws_ratio': ws_bytes / (reply_bytes * len(probes)), 'ws_per_reply_kb': ws_bytes / len(probes) / 1024,
        'lag_p50_ms': percentile(lags, 50) * 1000, 'lag_p95_ms': percentile(lags, 95) * 1000,
        'lag_max_ms': max(lags, default=math.nan) * 1000,
        'lag_steady_p95_ms': percentile(steady, 95) * 1000 if lags else math.nan,
        'first_ms': statistics.median(first) * 1000, 'first_max_ms': max(first) * 1000, 'last_ms': max(last) * 1000,
        'first_received_ms': statistics.median(first_received) * 1000 if first_received else math.nan,
        'wait_p50_ms': percentile(waits, 50) * 1000 if waits else math.nan,
        'wait_max_ms': max(waits, default=math.nan) * 1000,
        'finished_ms': max(finished) * 1000,
        'browser_task_per_1k': task / n_tokens * 1000, 'browser_script_per_1k': script / n_tokens * 1000,
        'browser_layout_per_1k': layout / n_tokens * 1000, 'browser_task_s': task,
        'rss_before_mb': rss0, 'rss_after_mb': rss1,
        'shown': [c[0] for c in checks], 'expected': checks[0][1] if checks else 0,
        'tokens_matched': sum(c[2] for c in checks), 'word_tokens': sum(c[3] for c in checks),
        'updates': updates, 'updates_per_reply': updates / len(probes), 'complete': complete, 'cut_pages': cut,
        'lag_censored': censored, 'raw': raw,
    }


def stored_replies(database: Path) -> dict[str, int]:
    """How the app stored the measured replies (warm-ups left out): status -> count."""
    import sqlite3
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT status, count(*) FROM message WHERE role = 'assistant' AND conversation_id IN "
                          "(SELECT conversation_id FROM message WHERE role = 'user' AND content LIKE 'bench %') "
                          "GROUP BY status").fetchall()
    return dict(rows)


def interpolate(samples: list[tuple[float, float]], at: float) -> float:
    """The cumulative cost at time `at`, read off a list of (time, cumulative cost) samples."""
    for (t0, v0), (t1, v1) in itertools.pairwise(samples):
        if t0 <= at <= t1:
            return v0 + (v1 - v0) * ((at - t0) / (t1 - t0) if t1 > t0 else 1.0)
    return samples[-1][1] if at > samples[-1][0] else samples[0][1]


def first_and_last_1k(state: dict, probes: list[PageProbe], cpu_samples: list[tuple[float, float]]) -> dict:
    """Server CPU and browser time while the model wrote its first 1,000 tokens and its last 1,000: equal
    when nothing grows with the length of the reply. Only for long replies of one page."""
    streams = [s for s in state['streams'] if not s['warmup']]
    if len(probes) != 1 or len(streams) != 1 or len(streams[0]['times']) < 4000:
        return {}
    times = streams[0]['times']
    windows = {'first': (times[0], times[999]), 'last': (times[-1000], times[-1])}

    def cost(samples: list, window: tuple[float, float]) -> float:
        return interpolate(samples, window[1]) - interpolate(samples, window[0])
    return {f'{which}_1k_{what}': cost(samples, window) for which, window in windows.items()
            for what, samples in (('cpu_s', cpu_samples), ('browser_s', probes[0].samples))}


# --- the floor -----------------------------------------------------------------------------------------

def run_floor(args, env: dict[str, str], llm: str) -> dict:
    http_json(f'{llm}/reset', method='POST')
    streams = 1 if args.room else args.pages
    cmd = [PYTHON, str(BENCH / 'floor.py'), '--streams', str(streams)] + (['--no-warmup'] if args.no_warmup else [])
    timeout = args.tokens / args.rate * 3 + 60
    busy0, wall0 = machine_busy(), time.time()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          start_new_session=True)
    if done.returncode:
        raise RuntimeError(f'floor failed ({done.returncode}):\n{done.stderr[-2000:]}')
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result['cpu_per_1k'] = result['cpu'] / max(result['chunks'], 1) * 1000
    result['machine_cores_busy'] = (machine_busy() - busy0) / (time.time() - wall0)
    return result


# --- output --------------------------------------------------------------------------------------------

def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return f'{value:,.{digits}f}'


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return '-'
    return f'{a / b:.3g}x'


def describe_code(rev: str | None) -> str:
    """Which chatapp was measured: a commit, or the work tree and whether it has uncommitted changes."""
    def git(*command: str) -> str:
        done = subprocess.run(['git', '-C', str(ROOT), *command], capture_output=True, text=True, timeout=30)
        return done.stdout.strip() if done.returncode == 0 else '?'
    if rev:
        return f'chatapp at {rev} ({git("rev-parse", "--short", rev)})'
    dirty = git('status', '--porcelain', '--', 'chatapp')
    return f'chatapp work tree at {git("rev-parse", "--short", "HEAD")}' + (' + uncommitted changes' if dirty else '')


DETAIL_ROWS = [  # label, key, digits, the floor has it
    ('server CPU, s', 'cpu_s', 2, True),
    ('server CPU, s per 1k tokens', 'cpu_per_1k', 3, True),
    ('browser CPU, all processes, s/1k tok', 'browser_cpu_per_1k', 3, False),
    ('ws payload received, KB', 'ws_kb', 1, False),
    ('ws payload / reply text bytes', 'ws_ratio', 2, False),
    ('ws on the wire / reply text bytes', 'wire_ratio', 2, False),
    ('  of which HTTP responses, KB per page', 'http_in_window_kb', 1, False),
    ('ws frames received', 'ws_frames', 0, False),
    ('reply updates seen by the page', 'updates', 0, False),
    ('token lag p50, ms', 'lag_p50_ms', 0, False),
    ('token lag p95, ms', 'lag_p95_ms', 0, False),
    ('token lag max, ms', 'lag_max_ms', 0, False),
    (f'token lag p95 after {STEADY_AFTER_SECONDS:g} s, ms', 'lag_steady_p95_ms', 0, False),
    ('first token received - sent, ms', 'first_received_ms', 0, False),
    ('first token shown - sent, ms', 'first_ms', 0, False),
    ('  the page that showed it last, ms', 'first_max_ms', 0, False),
    ('Enter to first token shown*, p50, ms', 'wait_p50_ms', 0, False),
    ('Enter to first token shown*, max, ms', 'wait_max_ms', 0, False),
    ('last token shown - sent, ms', 'last_ms', 0, False),
    ('reply finished - last sent, ms', 'finished_ms', 0, False),
    ('browser main thread, s per 1k tok', 'browser_task_per_1k', 3, False),
    ('  of which script, s per 1k tok', 'browser_script_per_1k', 3, False),
    ('  of which style+layout, s/1k', 'browser_layout_per_1k', 3, False),
    ('server CPU, first 1k tokens, s', 'first_1k_cpu_s', 3, False),
    ('server CPU, last 1k tokens, s', 'last_1k_cpu_s', 3, False),
    ('browser, first 1k tokens, s', 'first_1k_browser_s', 3, False),
    ('browser, last 1k tokens, s', 'last_1k_browser_s', 3, False),
    ('forced page reloads', 'reloads', 0, False),
    ('browser console errors+warnings', 'console_count', 0, False),
    ('app RSS before, MB', 'rss_before_mb', 1, False),
    ('app RSS after, MB', 'rss_after_mb', 1, False),
    ('app RSS growth, MB', 'rss_growth_mb', 1, False),
    ('measured window, s', 'wall_s', 1, True),
    ('machine busy in window, cores', 'machine_cores_busy', 2, True),
]
# a page cut off before it finished did not do all its work: its costs and lags are lower bounds
NOT_BOUNDED = {'first_ms', 'first_max_ms', 'first_received_ms', 'wait_p50_ms', 'wait_max_ms', 'rss_before_mb',
               'rss_after_mb', 'rss_growth_mb', 'wall_s', 'machine_cores_busy'}


def cell(result: dict | None, key: str, digits: int) -> str:
    text = fmt(None if result is None else result.get(key), digits)
    return f'>{text}' if result and result.get('cut_pages') and key not in NOT_BOUNDED and text != '-' else text


def print_summary(results: dict) -> None:
    """One row per app: what one reply costs the server, the browser (all its processes, and the page's main
    thread) and the wire, how late its tokens show, and how often the page's text changed."""
    floor = results.get('floor')
    header = (f'{"app":<10}{"server s/1k":>12}{"/floor":>8}{"browser s/1k":>13}{"main s/1k":>10}'
              f'{"lag p50/p95 ms":>16}{"first ms":>9}{"payload KB":>11}{"/text":>8}{"wire KB":>9}{"/text":>7}'
              f'{"updates":>9}')
    print(header)
    print('-' * len(header))
    for name in APPS:
        result = results.get(name)
        if not result:
            continue
        if 'failed' in result:
            print(f'{name:<10}  FAILED: {result["failed"]}')
            continue
        vs_floor = ratio(result['cpu_per_1k'], floor and floor['cpu_per_1k'])
        lags = f'{cell(result, "lag_p50_ms", 0)}/{fmt(result["lag_p95_ms"], 0)}'
        print(f'{name:<10}{cell(result, "cpu_per_1k", 3):>12}'
              f'{(">" if result.get("cut_pages") and vs_floor != "-" else "") + vs_floor:>8}'
              f'{cell(result, "browser_cpu_per_1k", 3):>13}{cell(result, "browser_task_per_1k", 3):>10}{lags:>16}'
              f'{cell(result, "first_ms", 0):>9}{cell(result, "ws_per_reply_kb", 1):>11}'
              f'{cell(result, "ws_ratio", 1) + "x":>8}{cell(result, "wire_per_reply_kb", 1):>9}'
              f'{cell(result, "wire_ratio", 2) + "x":>7}{cell(result, "updates_per_reply", 0):>9}')
    if floor:
        print(f'{"floor":<10}{fmt(floor["cpu_per_1k"], 3):>12}{"1x":>8}')
    print('-' * len(header))


def print_table(args, results: dict) -> None:
    apps = [name for name in APPS if results.get(name) and 'failed' not in results[name]]
    floor = results.get('floor')
    for name in apps:
        results[name]['ws_kb'] = results[name]['ws_bytes'] / 1024
        results[name]['rss_growth_mb'] = results[name]['rss_after_mb'] - results[name]['rss_before_mb']
    if floor:
        floor['cpu_s'] = floor['cpu']
        floor['wall_s'] = floor['wall']
    reply_bytes = next((results[name]['reply_bytes'] for name in apps), 0)
    pages = (f'{args.pages} people reading one shared conversation\'s reply (the floor: one stream)' if args.room
             else f'{args.pages} page(s)')
    scenario = f'{args.scenario}: ' if getattr(args, 'scenario', None) else ''
    print()
    print(f'stream_bench {scenario}{args.tokens} tokens at {args.rate:g}/s x {pages}, {os.cpu_count()} CPUs, '
          f'reply {reply_bytes:,} bytes')
    print(results.get('code', ''))
    print_summary(results)
    print("server: CPU of the app's process (and its children) per 1,000 tokens, and over the floor's.\n"
          "browser: CPU of all the phase's Chromium processes, and of the page's main thread (CDP), per 1,000 tokens.\n"
          'first: the first token shown after the model wrote it. payload: decompressed websocket messages per reply,\n'
          "and over the reply's text; wire: the TCP payload the app sent per reply (ss), after permessage-deflate.\n"
          "updates: changes of the reply's text that the page's MutationObserver saw, per reply.")
    print()
    header = f'{"metric":<38}' + ''.join(f'{name:>11}' for name in apps) + (f'{"floor":>9}' if floor else '')
    print(header)
    print('-' * len(header))
    for label, key, digits, has_floor in DETAIL_ROWS:
        if '_1k_' in key and all(key not in results[name] for name in apps):
            continue  # long replies only
        floor_cell = f'{fmt(floor.get(key) if has_floor else None, digits):>9}' if floor else ''
        print(f'{label:<38}' + ''.join(f'{cell(results[name], key, digits):>11}' for name in apps) + floor_cell)
    print('-' * len(header))
    for name in apps:
        result = results[name]
        shown = ', '.join(str(s) for s in result['shown'])
        if result.get('cut_pages'):
            note = (f'  <-- CUT OFF {args.grace:g} s after the last token (page(s) {result["cut_pages"]}): '
                    f'{result["lag_censored"]} tokens not shown yet; ">" marks lower bounds')
        elif not result['complete']:
            note = '  <-- MISMATCH: the page does not show the whole reply; no lag reported'
        else:
            note = ''
        print(f'{name}: letters shown {shown} of {result["expected"]}, '
              f'{result["tokens_matched"] - result.get("lag_censored", 0)}/{result["word_tokens"]} '
              f'word tokens timed{note}')
    chat = results.get('chatapp')
    if chat and 'stored' in chat:
        print(f'chatapp replies stored: {chat["stored"]} (of {"1 and its warm-up" if args.room else args.pages}); '
              f'forced page reloads: {chat["reloads"]}')
    if 'chainlit' in args.phases and not CHAINLIT.exists():
        print(f'chainlit: skipped, not installed (install: {CHAINLIT_INSTALL})')
    print('lag: DOM text (MutationObserver, Date.now()) minus the model server writing the token; same clock.')
    print("*: from the page getting the Enter to its first token shown, less the model's own time to its first "
          'token (request received to first token written): storing the question, starting the reply, the page.')
    print(f'machine busy: all processes incl. Chromium and this harness, of {os.cpu_count()} cores; '
          'other load on the machine shows up here and makes the seconds noisy (compare ratios).')
    for name in apps:
        if results[name].get('console'):
            print(f'{name} browser console errors/warnings in the window: {results[name]["console_count"]}; the '
                  f'first of all: {results[name]["console"][0][:200]}')


def js_profile_summary(profile: dict, tokens: int, top: int = 25) -> str:
    """The functions of a CDP CPU profile by own time (idle and the program itself left out)."""
    nodes = {node['id']: node for node in profile['nodes']}
    deltas = dict.fromkeys(nodes, 0.0)
    for sample, delta in zip(profile['samples'], profile['timeDeltas'], strict=True):
        deltas[sample] += delta / 1e6
    own: dict[str, float] = {}
    for node_id, seconds in deltas.items():
        frame = nodes[node_id]['callFrame']
        if frame['functionName'] in ('(idle)', '(program)', '(root)'):
            continue
        where = f"{frame['functionName'] or '(anonymous)'} {frame['url'].rsplit('/', 1)[-1]}:{frame['lineNumber'] + 1}"
        own[where] = own.get(where, 0.0) + seconds
    scale = 1000 / tokens
    ranked = sorted(own.items(), key=lambda kv: -kv[1])[:top]
    lines = [f'  {seconds * scale:7.3f}  {where}' for where, seconds in ranked]
    return '\n'.join([*lines, f'  {sum(own.values()) * scale:7.3f}  all script'])


def print_profile(path: Path, out: Path) -> None:
    with open(out, 'w') as stream:
        stats = pstats.Stats(str(path), stream=stream)
        stats.sort_stats('tottime').print_stats(40)
        stats.sort_stats('cumulative').print_stats(60)
    print(f'\ncProfile of chatapp during the measured window (main thread), top by own time; '
          f'full listing in {out}')
    stats = pstats.Stats(str(path))
    total = stats.total_tt
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:15]
    for (filename, line, func), (_cc, calls, tottime, _cumtime, _callers) in rows:
        where = filename.replace(str(ROOT) + '/', '').split('site-packages/')[-1]
        print(f'  {tottime:7.3f}s {100 * tottime / total:5.1f}%  {calls:>8} calls  {func}  ({where}:{line})')
    groups: dict[str, float] = {}

    def charge(key: tuple, seconds: float, depth: int, seen: frozenset) -> None:
        # C builtins and helper stdlib modules are charged to whoever called them, up to a few levels
        group = code_group(key[0])
        callers = stats.stats[key][4] if key in stats.stats else {}
        if (group == 'C builtins / frozen' or group in HELPER_STDLIB) and callers and depth < 8:
            weights = {caller: (value[2] if isinstance(value, tuple) else 1) for caller, value in callers.items()
                       if caller not in seen}
            total_weight = sum(weights.values())
            if total_weight > 0:
                for caller, weight in weights.items():
                    charge(caller, seconds * weight / total_weight, depth + 1, seen | {key})
                return
        groups[group] = groups.get(group, 0.0) + seconds

    for key, (_cc, _calls, tottime, _cum, _callers) in stats.stats.items():
        charge(key, tottime, 0, frozenset())
    print('  own time by package (C builtins and typing/inspect/re/... charged to their callers):')
    for group, seconds in sorted(groups.items(), key=lambda kv: kv[1], reverse=True)[:14]:
        print(f'  {seconds:7.3f}s {100 * seconds / total:5.1f}%  {group}')
    layers: dict[str, float] = {}
    for group, seconds in groups.items():
        layer = next((name for name, members in LAYERS.items()
                      if any(group == m or group.startswith(m) for m in members)), 'other')
        layers[layer] = layers.get(layer, 0.0) + seconds
    print('  by layer: ' + ', '.join(f'{name} {100 * seconds / total:.0f}%'
                                     for name, seconds in sorted(layers.items(), key=lambda kv: -kv[1])))
    print(f'  total profiled: {total:.2f} s of main-thread CPU (profiling slows the app: '
          f'ignore this run\'s table)')


LAYERS = {
    'model client (openai/httpx/langchain/pydantic)': (
        'openai', 'httpx', 'httpcore', 'h11', 'anyio', 'sniffio', 'langchain', 'pydantic', 'typing_extensions',
        'jiter', 'tiktoken', 'stdlib ssl'),
    'markdown (markdown2/pygments)': ('markdown2', 'pygments'),
    'UI push (nicegui/socket.io/uvicorn)': ('nicegui', 'socketio', 'engineio', 'uvicorn', 'wsproto', 'starlette',
                                            'fastapi', 'simple_websocket', 'vbuild', 'orjson'),
    'database': ('sqlalchemy', 'sqlmodel', 'aiosqlite', 'greenlet', 'asyncpg', 'stdlib sqlite3'),
    'chatapp': ('chatapp/',),
    'event loop': ('stdlib asyncio', 'uvloop'),
}
HELPER_STDLIB = {f'stdlib {m}' for m in ('typing', 'inspect', 're', 'contextlib', 'functools', 'enum', 'copy',
                                          'abc', 'dataclasses', 'json', 'weakref', 'collections', 'logging')}


def code_group(filename: str) -> str:
    """A profile entry's package: site-packages top level, chatapp, a stdlib module, or C builtins."""
    if filename == '~' or filename.startswith('<'):
        return 'C builtins / frozen'
    if 'site-packages/' in filename:
        return filename.split('site-packages/')[1].split('/')[0].removesuffix('.py')
    if '/chatapp/' in filename:
        return 'chatapp/' + filename.split('/chatapp/')[1]
    parts = Path(filename).parts
    if 'python3.11' in parts or any(p.startswith('python3.') for p in parts):
        index = next(i for i, p in enumerate(parts) if p.startswith('python3.'))
        return 'stdlib ' + parts[index + 1].removesuffix('.py') if index + 1 < len(parts) else 'stdlib'
    return filename


# --- main ----------------------------------------------------------------------------------------------

def extract_revision(rev: str, destination: Path) -> None:
    """The chatapp package as committed at `rev`, unpacked into `destination` (the repository is untouched)."""
    destination.mkdir(parents=True)
    archive = subprocess.run(['git', '-C', str(ROOT), 'archive', '--format=tar', rev, 'chatapp'],
                             capture_output=True, check=True, timeout=60).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter='data')


_STARTED = time.monotonic()


def elapsed() -> str:
    return f'{time.monotonic() - _STARTED:5.1f}s'


async def run_app_phase(name: str, playwright, app: Process, url: str, ui: AppUI, llm: str, args) -> dict:
    """Start the app and a Chromium of this phase's own, then stream into the app's pages at `url` and measure; the
    end of the app's log is shown if that fails."""
    app.start()
    print(f'[{elapsed()}]   app ready', flush=True)
    before = chromium_processes()
    browser = await launch(playwright.chromium, LOOPBACK_ONLY)
    try:
        return await run_ui_phase(name, browser, url, ui, app.pid, llm, args, app, browser_process(before))
    except BaseException:
        print(f'{name} log (last lines):\n{app.tail(30)}', file=sys.stderr)
        raise
    finally:
        await browser.close()


async def measure_phase(results: dict, name: str, phase: Coroutine) -> None:
    """results[name] = the phase's result; a phase that fails is marked so, and the others still run."""
    try:
        results[name] = await phase
    except Exception as error:
        print(f'{name}: FAILED: {error}', file=sys.stderr, flush=True)
        results[name] = {'name': name, 'failed': str(error).splitlines()[0][:300]}


def chainlit_app(tmp: Path, env: dict[str, str]) -> Process:
    """bench/chainlit_app.py under `chainlit run`, from .venv-chainlit."""
    port = free_port()
    root = tmp / 'chainlit'  # its working directory: Chainlit writes .chainlit/config.toml, .files/, chainlit.md
    root.mkdir()
    env = {name: value for name, value in env.items() if name not in (*CHAINLIT_UNSET, 'PYTHONPATH')}
    command = [str(CHAINLIT), 'run', str(BENCH / 'chainlit_app.py'), '--headless', '--host', '127.0.0.1',
               '--port', str(port)]
    return Process('chainlit', command, cwd=root, env=dict(env, CHAINLIT_APP_ROOT=str(root)),
                   health_url=f'http://127.0.0.1:{port}/health')


async def main_async(args) -> dict:
    from playwright.async_api import async_playwright

    tmp = Path(tempfile.mkdtemp(prefix='stream-bench-'))
    processes: list[Process] = []
    results: dict = {}
    # the app's own configuration comes only from here: local single-user mode, no login provider
    base_env = clean_environment()
    base_env.update(NO_PROXY='127.0.0.1,localhost', no_proxy='127.0.0.1,localhost', PYTHONUNBUFFERED='1')
    try:
        source = ROOT
        if args.rev:  # a clean copy of a commit, so work in progress in the tree does not leak in
            source = tmp / 'src'
            await asyncio.to_thread(extract_revision, args.rev, source)
        base_env['PYTHONPATH'] = os.pathsep.join(p for p in (str(source), base_env.get('PYTHONPATH', '')) if p)
        llm_process = FakeLLM(tmp, tokens=args.tokens, rate=args.rate, env=base_env, technical=args.technical)
        processes.append(llm_process)
        llm_process.start(timeout=20)
        llm = llm_process.base_url
        # one person sends from every page at once, as no person would: no send rate limit
        # no titles: the fake model would answer a title request with the whole reply again, where a real
        # title is a dozen tokens
        env = dict(base_env, OPENAI_BASE_URL=f'{llm}/v1', OPENAI_API_KEY='bench', CHATAPP_SENDS_PER_MINUTE='0',
                   CHATAPP_TITLE_MODEL='off')
        oidc = None
        if args.room:  # several people: they log in
            await asyncio.to_thread(install_oidc_provider)
            oidc = OIDCProvider(tmp)
            processes.append(oidc)
            oidc.start(timeout=30)

        async with async_playwright() as playwright:
            if 'chatapp' in args.phases:
                print(f'[{elapsed()}] chatapp: streaming {args.tokens} tokens at {args.rate:g}/s '
                      f'to {args.pages} page(s)...', flush=True)
                data = tmp / 'chatapp-data'
                port = free_port()
                cmd = [PYTHON, '-m', 'chatapp', '--host', '127.0.0.1', '--port', str(port)]
                if args.profile:
                    cmd = [PYTHON, str(BENCH / '_profiled_app.py'), str(tmp / 'chatapp.prof'),
                           '--host', '127.0.0.1', '--port', str(port)]
                login = oidc.app_settings(f'http://127.0.0.1:{port}') if oidc is not None else {}
                app = Process('chatapp', cmd, cwd=tmp, env=dict(env, CHATAPP_DATA_DIR=str(data), **login),
                              health_url=f'http://127.0.0.1:{port}/healthz')
                processes.append(app)
                try:
                    await measure_phase(results, 'chatapp', run_app_phase(
                        'chatapp', playwright, app, f'http://127.0.0.1:{port}/', CHATAPP_UI, llm, args))
                finally:
                    app.stop(timeout=5.0)
                    if args.keep_logs:
                        shutil.copy(app.log.path, RESULTS / 'chatapp.log')
                if 'failed' not in results['chatapp']:
                    results['chatapp']['stored'] = stored_replies(data / 'chatapp.db')
                if args.profile and (tmp / 'chatapp.prof').exists():
                    RESULTS.mkdir(exist_ok=True)
                    shutil.copy(tmp / 'chatapp.prof', RESULTS / 'chatapp.prof')
                    print_profile(RESULTS / 'chatapp.prof', RESULTS / 'chatapp-profile.txt')
            for name, throttle in (('naive', 0), ('throttled', THROTTLE_MS)):
                if name not in args.phases:
                    continue
                print(f'[{elapsed()}] {name}: the same stream into one ui.markdown, '
                      + (f'at most every {throttle} ms...' if throttle else 'every token...'), flush=True)
                port = free_port()
                app = Process(name, [PYTHON, str(BENCH / 'naive_app.py'), '--port', str(port),
                                     '--throttle-ms', str(throttle)],
                              cwd=tmp, env=env, health_url=f'http://127.0.0.1:{port}/healthz')
                processes.append(app)
                try:
                    await measure_phase(results, name, run_app_phase(
                        name, playwright, app, f'http://127.0.0.1:{port}/', NICEGUI_UI, llm, args))
                finally:
                    app.stop(hard=True)  # it may still be working through its backlog: no graceful shutdown
            if 'chainlit' in args.phases and not CHAINLIT.exists():
                print(f'chainlit: skipped, not installed (install: {CHAINLIT_INSTALL})', flush=True)
            elif 'chainlit' in args.phases:
                print(f'[{elapsed()}] chainlit: the same stream into a cl.Message, stream_token per chunk...',
                      flush=True)
                app = chainlit_app(tmp, env)
                processes.append(app)
                try:
                    await measure_phase(results, 'chainlit', run_app_phase(
                        'chainlit', playwright, app, app.health_url.removesuffix('health'), CHAINLIT_UI, llm, args))
                finally:
                    app.stop(hard=True)
        if 'floor' in args.phases:
            print(f'[{elapsed()}] floor: bare ChatOpenAI.astream...', flush=True)
            results['floor'] = await asyncio.to_thread(run_floor, args, env, llm)
    finally:
        for process in reversed(processes):
            with contextlib.suppress(Exception):
                process.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description='Benchmark a streamed reply: chatapp vs its peers (a naive and a '
                                                 'throttled NiceGUI page, Chainlit) vs a bare ChatOpenAI.astream loop.')
    parser.add_argument('--tokens', type=int, default=2000, help='tokens per reply (default 2000)')
    parser.add_argument('--rate', type=float, default=100.0, help='tokens per second (default 100)')
    parser.add_argument('--pages', type=int, default=1, help='browser pages, each streaming its own reply')
    parser.add_argument('--technical', action='store_true',
                        help='a reply heavy with code blocks and formulas (fake_llm.py --technical)')
    parser.add_argument('--scenario', help='instead of --tokens/--rate/--pages, one or more (comma-separated) of '
                        + ', '.join(f'{name} ({t} tokens at {r:g}/s x {p} page(s))'
                                    for name, (t, r, p) in SCENARIOS.items()) + ', or all; a table for each')
    parser.add_argument('--phases', default=','.join((*APPS, 'floor')),
                        help=f'comma-separated subset of {",".join((*APPS, "floor"))} (default: all)')
    parser.add_argument('--room', action='store_true',
                        help="the pages are people in one shared conversation, reading the first one's reply "
                             '(chatapp only: the naive page has no people)')
    parser.add_argument('--no-warmup', action='store_true', help='measure the first reply of a fresh process')
    parser.add_argument('--grace', type=float, default=15.0,
                        help='seconds a page may take after the last token before it is cut off (default 15)')
    parser.add_argument('--rev', help='benchmark chatapp as committed at this git revision (default: the work tree)')
    parser.add_argument('--profile', action='store_true',
                        help='also cProfile chatapp during the window (slows it; the table is then not comparable)')
    parser.add_argument('--js-profile', action='store_true',
                        help="also sample the script of each phase's (first) page (CDP Profiler) and print its "
                             'functions by own time')
    parser.add_argument('--trace', action='store_true',
                        help="also record a Chromium trace of each phase's (first) page and print where the browser's "
                             'CPU went, per thread and kind of work (slows it; the table is then not comparable)')
    parser.add_argument('--keep-logs', action='store_true', help='copy the app log to bench/results/')
    parser.add_argument('--json', type=Path, help='write the raw results here (default: bench/results/<time>.json)')
    args = parser.parse_args()
    args.phases = {p.strip() for p in args.phases.split(',') if p.strip()}
    if unknown := args.phases - {*APPS, 'floor'}:
        parser.error(f'unknown phase(s): {", ".join(sorted(unknown))}')
    if args.room:
        args.phases -= {'naive', 'throttled', 'chainlit'}
    if args.tokens < 10 or args.rate <= 0 or args.pages < 1:
        parser.error('need --tokens >= 10, --rate > 0, --pages >= 1')
    scenarios = [None]  # --tokens, --rate and --pages as given
    if args.scenario:
        scenarios = list(SCENARIOS) if args.scenario == 'all' else [s.strip() for s in args.scenario.split(',')]
        if unknown := set(scenarios) - set(SCENARIOS):
            parser.error(f'unknown scenario(s): {", ".join(sorted(unknown))}')
    RESULTS.mkdir(exist_ok=True)
    started = time.monotonic()
    code = describe_code(args.rev)
    out = args.json or RESULTS / time.strftime('stream-%Y%m%d-%H%M%S.json')
    runs = []
    for scenario in scenarios:
        run = args
        if scenario is not None:
            tokens, rate, pages = SCENARIOS[scenario]
            run = argparse.Namespace(**{**vars(args), 'scenario': scenario, 'tokens': tokens, 'rate': rate,
                                        'pages': pages})
        results = asyncio.run(main_async(run))
        results['code'] = code
        print_table(run, results)
        runs.append({'args': {k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v)
                              for k, v in vars(run).items()}, 'results': results})
        # after each scenario, so a later one that fails keeps the earlier numbers
        raw = runs[0] if len(runs) == 1 and scenario is None else {'runs': runs}
        out.write_text(json.dumps({**raw, 'cpus': os.cpu_count()}, indent=1))
    print(f'raw results: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}; '
          f'run took {time.monotonic() - started:.0f} s')


if __name__ == '__main__':
    main()
