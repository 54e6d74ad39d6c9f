"""Scale-out benchmark: N pages streaming at once through nginx into one or several chatapp instances.

    .venv/bin/python bench/scale_bench.py [--pages 40 --tokens 300 --rate 20 --instances 2]

The deployment of docs/deploy.md on loopback (tests/support/cluster.py): PostgreSQL (a database of its own,
`chatapp_bench`, emptied first), Redis (database 13, flushed first), the instances started as
chatapp@.service starts them, nginx running docs/deploy/nginx.conf.template with TLS and its route cookie.
Every page is a fresh browser profile, so nginx deals them out between the instances as it would real
browsers, and (`--users oidc`, the default) a person of its own, signed in through the test OpenID Connect
provider (tests/oidc, Node.js). `--users local` runs local mode instead, every page the one local user:
then every send reloads every page's sidebar, which no team of 40 people does.

The measuring is bench/stream_bench.py's (fake_llm.py paced tokens, the MutationObserver lag, CDP websocket
bytes and main-thread time); the server CPU and RSS are summed over the instances. The instances' and
nginx's logs of each phase are copied to bench/results/scale-<instances>-*.log.

`--instances 1,2` runs the same load against one instance, then two. Prints a table; the raw numbers go
to bench/results/scale-<time>.json (ignored by git). Loopback only; stops by itself. Not part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import stream_bench  # noqa: E402  (bench/ is not a package)
from stream_bench import CHATAPP_UI, RESULTS, elapsed, fmt  # noqa: E402

from tests.support import oidc  # noqa: E402
from tests.support.browser import launch  # noqa: E402
from tests.support.cluster import Instance, migrate, start_all  # noqa: E402
from tests.support.databases import flush_redis, fresh_postgres  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from tests.support.nginx import Nginx  # noqa: E402
from tests.support.oidc import PASSWORD, OIDCProvider, keep_to_loopback  # noqa: E402
from tests.support.servers import FakeLLM  # noqa: E402

GROUP = -1  # the "pid" stream_bench measures: every instance of the phase


class Group:
    """The instances of a phase, as stream_bench's run_ui_phase sees its one process."""

    def __init__(self, instances: list[Instance]) -> None:
        self.instances = instances
        self.cpu_samples: list[list[float]] = []  # per instance, at each measurement

    def alive(self) -> bool:
        return all(instance.alive() for instance in self.instances)

    def tail(self, lines: int = 20) -> str:
        return '\n'.join(f'--- {i.name}\n{i.tail(lines)}' for i in self.instances)

    def signal(self, signum: int) -> None:  # --profile is stream_bench's alone
        pass

    def cpu(self) -> float:
        sample = [_cpu_seconds(instance.pid) for instance in self.instances]
        self.cpu_samples.append(sample)
        return sum(sample)

    def rss(self) -> float:
        return sum(_rss_mb(instance.pid) for instance in self.instances)


_cpu_seconds, _rss_mb = stream_bench.cpu_seconds, stream_bench.rss_mb
_groups: list[Group] = []


def _group_cpu(pid: int) -> float:
    return _groups[-1].cpu() if pid == GROUP else _cpu_seconds(pid)


def _group_rss(pid: int) -> float:
    return _groups[-1].rss() if pid == GROUP else _rss_mb(pid)


stream_bench.cpu_seconds, stream_bench.rss_mb = _group_cpu, _group_rss


def start_provider(tmp: Path) -> OIDCProvider:
    """The test OpenID Connect provider of tests/oidc on loopback."""
    if not oidc.node_available():
        raise SystemExit('--users oidc needs Node.js with npm (bash tests/run installs it); or use --users local')
    oidc.install()
    provider = OIDCProvider(tmp)
    provider.start(timeout=30)
    return provider


class SignedInBrowser:
    """The browser as run_ui_phase sees it: every new profile is first signed in as a person of its own."""

    def __init__(self, browser, app_url: str, label: str) -> None:
        self.browser = browser
        self.app_url = app_url
        self.label = label
        self.count = 0

    async def new_context(self, **kwargs):
        context = await self.browser.new_context(**kwargs)
        await keep_to_loopback(context)  # the provider's sign-in page asks for web fonts
        self.count += 1
        page = await context.new_page()
        try:
            await page.goto(f'{self.app_url}/auth/oidc/login?next=/')
            await page.wait_for_selector('input[name=login]', timeout=30_000)
            await page.fill('input[name=login]', f'bench-{self.label}-{self.count}@example.com')
            await page.fill('input[name=password]', PASSWORD)
            await page.click('button[type=submit]')
            await page.locator('[data-testid=composer]').wait_for(state='visible', timeout=30_000)
        except Exception:
            await stream_bench.save_failure(page, f'sign-in-{self.count}')
            raise
        finally:
            await page.close()
        return context


async def run_phase(count: int, browser, llm: str, args, tmp: Path, provider: OIDCProvider | None) -> dict:
    name = f'{count} instance' + ('s' if count > 1 else '')
    print(f'[{elapsed()}] {name}: {args.pages} pages streaming {args.tokens} tokens at {args.rate:g}/s '
          'through nginx...', flush=True)
    database_url = await fresh_postgres(args.database_url, 'chatapp_bench')
    await asyncio.to_thread(flush_redis, args.redis_url)
    root = tmp / f'phase-{count}'
    ports = [free_port() for _ in range(count)]
    nginx = Nginx(root / 'nginx', ports)
    settings = {'DATABASE_URL': database_url, 'REDIS_URL': args.redis_url,
                'CHATAPP_STORAGE_SECRET': secrets.token_urlsafe(48), 'CHATAPP_PUBLIC_URL': nginx.base_url,
                'OPENAI_BASE_URL': f'{llm}/v1', 'OPENAI_API_KEY': 'bench',
                'CHATAPP_SENDS_PER_MINUTE': '0',  # the local user sends from every page at once
                'CHATAPP_TITLE_MODEL': 'off'}  # the fake model would answer a title with a whole reply
    if provider is not None:  # one person per page, signed in through the test provider
        settings |= await asyncio.to_thread(provider.app_settings, nginx.base_url)
        browser = SignedInBrowser(browser, nginx.base_url, str(count))
    instances = [Instance(root / f'chatapp-{port}', port, **settings) for port in ports]
    group = Group(instances)
    _groups.append(group)
    try:
        await asyncio.to_thread(migrate, instances[0].env, root)
        await asyncio.to_thread(start_all, instances)
        await asyncio.to_thread(nginx.start)
        try:
            result = await stream_bench.run_ui_phase(name, browser, f'{nginx.base_url}/', CHATAPP_UI, GROUP, llm,
                                                     args, group)
        except BaseException:
            print(f'{name} logs (last lines):\n{group.tail(30)}\n{nginx.log_text()[-3000:]}', file=sys.stderr)
            raise
        # which instance served each page: the route of every WebSocket nginx upgraded
        sockets = {(line['route'], line['upstream']) for line in nginx.access_lines()
                   if line['request'].startswith('GET /_nicegui_ws/socket.io/') and line['status'] == '101'}
        per_port = Counter(upstream for _, upstream in sockets)
        result['pages_per_instance'] = [per_port.get(str(port), 0) for port in ports]
        before, after = group.cpu_samples[0], group.cpu_samples[-1]
        result['cpu_per_instance'] = [b - a for a, b in zip(before, after, strict=True)]
        result['nginx_errors'] = [line for line in nginx.log_text().splitlines() if '[error]' in line][:20]
        return result
    finally:
        await asyncio.to_thread(nginx.stop)
        for instance in instances:
            await asyncio.to_thread(instance.stop, timeout=30)
        RESULTS.mkdir(exist_ok=True)  # the logs of the last run of each phase, for a look afterwards
        for path in [instance.log.path for instance in instances] + [nginx.error_log, nginx.site_error_log]:
            with contextlib.suppress(OSError):
                shutil.copy(path, RESULTS / f'scale-{count}-{path.name}')


async def main_async(args) -> dict:
    from playwright.async_api import async_playwright

    tmp = Path(tempfile.mkdtemp(prefix='scale-bench-'))
    llm_process = FakeLLM(tmp, tokens=args.tokens, rate=args.rate)
    provider = None
    results: dict = {}
    try:
        if args.users == 'oidc':
            provider = start_provider(tmp)
        llm_process.start(timeout=20)
        async with async_playwright() as playwright:
            # the test certificate of nginx is self-signed: this Chromium accepts it (loopback only)
            browser = await launch(playwright.chromium, '--ignore-certificate-errors')
            try:
                for count in args.instances:
                    results[count] = await run_phase(count, browser, llm_process.base_url, args, tmp, provider)
            finally:
                await browser.close()
    finally:
        for process in (llm_process, provider):
            if process is not None:
                process.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return results


ROWS = [  # label, key, digits
    ('pages per instance', 'pages_per_instance', None),
    ('server CPU, s (all instances)', 'cpu_s', 2),
    ('  per instance, s', 'cpu_per_instance', 2),
    ('server CPU, s per 1k tokens', 'cpu_per_1k', 3),
    ('ws payload received, KB', 'ws_kb', 1),
    ('token lag p50, ms', 'lag_p50_ms', 0),
    ('token lag p95, ms', 'lag_p95_ms', 0),
    ('token lag max, ms', 'lag_max_ms', 0),
    ('first token shown - sent, ms (median)', 'first_ms', 0),
    ('last token shown - sent, ms (worst)', 'last_ms', 0),
    ('reply finished - last sent, ms (worst)', 'finished_ms', 0),
    ('browser main thread, s per 1k tokens', 'browser_task_per_1k', 3),
    ('app RSS before, MB (all instances)', 'rss_before_mb', 1),
    ('app RSS after, MB (all instances)', 'rss_after_mb', 1),
    ('measured window, s', 'wall_s', 1),
    ('machine busy in window, cores', 'machine_cores_busy', 2),
]


def cell(result: dict, key: str, digits: int | None) -> str:
    value = result.get(key)
    if isinstance(value, list):
        return '/'.join(fmt(v, digits or 0) for v in value)
    text = fmt(value, digits or 0)
    bounded = result.get('cut_pages') and key not in ('first_ms', 'rss_before_mb', 'rss_after_mb', 'wall_s',
                                                      'machine_cores_busy')
    return f'>{text}' if bounded and text != '-' else text


def print_table(args, results: dict) -> None:
    for result in results.values():
        result['ws_kb'] = result['ws_bytes'] / 1024
    names = [result['name'] for result in results.values()]
    print()
    people = 'a person per page (OIDC)' if args.users == 'oidc' else 'all pages the one local user'
    print(f'scale_bench: {args.pages} pages x {args.tokens} tokens at {args.rate:g}/s, {people}, through nginx '
          f'(TLS, route cookie), PostgreSQL + Redis, {os.cpu_count()} CPUs for everything incl. Chromium')
    print(stream_bench.describe_code(None))
    header = f'{"metric":<40}' + ''.join(f'{name:>16}' for name in names)
    print(header)
    print('-' * len(header))
    for label, key, digits in ROWS:
        print(f'{label:<40}' + ''.join(f'{cell(result, key, digits):>16}' for result in results.values()))
    print('-' * len(header))
    for result in results.values():
        shown = sum(1 for s in result['shown'] if s == result['expected'])
        note = ''
        if result.get('cut_pages'):
            note = (f'; CUT OFF {args.grace:g} s after the last token: page(s) {result["cut_pages"]} '
                    f'(">" marks lower bounds)')
        elif not result['complete']:
            note = '; MISMATCH: a page does not show its whole reply, no lag reported'
        print(f'{result["name"]}: {shown}/{result["pages"]} pages show their whole reply{note}')
        if result.get('nginx_errors'):
            print(f'  nginx errors: {len(result["nginx_errors"])}, first: {result["nginx_errors"][0][:200]}')
        if result.get('console'):
            print(f'  browser console errors/warnings: {len(result["console"])}, first: {result["console"][0][:200]}')
    print('lag: DOM text (MutationObserver, Date.now()) minus fake_llm writing the token; same clock.')


def main() -> None:
    parser = argparse.ArgumentParser(description='N pages streaming at once through nginx into chatapp instances '
                                                 'sharing PostgreSQL and Redis.')
    parser.add_argument('--pages', type=int, default=40, help='pages streaming at once (default 40)')
    parser.add_argument('--tokens', type=int, default=300, help='tokens per reply (default 300)')
    parser.add_argument('--rate', type=float, default=20.0, help='tokens per second per reply (default 20)')
    parser.add_argument('--instances', default='2', help='comma-separated instance counts, one phase each (default 2)')
    parser.add_argument('--grace', type=float, default=20.0,
                        help='seconds a page may take after the last token before it is cut off (default 20)')
    parser.add_argument('--users', choices=['oidc', 'local'], default='oidc',
                        help='oidc (default): a person per page, signed in through tests/oidc; local: local mode, '
                             'every page the one local user')
    parser.add_argument('--no-warmup', action='store_true', help='measure the first reply of every page')
    parser.add_argument('--database-url', default=os.environ.get(
        'TEST_POSTGRES_URL', 'postgresql+asyncpg://postgres@127.0.0.1:5432/test'),
        help='a PostgreSQL database beside which chatapp_bench is created (default: the test database)')
    parser.add_argument('--redis-url', default='redis://127.0.0.1:6379/13', help='flushed first (default db 13)')
    parser.add_argument('--json', type=Path,
                        help='write the raw results here (default: bench/results/scale-<time>.json)')
    args = parser.parse_args()
    args.instances = [int(n) for n in args.instances.split(',') if n.strip()]
    args.profile = False
    if args.pages < 1 or args.tokens < 10 or args.rate <= 0 or not args.instances or min(args.instances) < 1:
        parser.error('need --pages >= 1, --tokens >= 10, --rate > 0, --instances >= 1')
    RESULTS.mkdir(exist_ok=True)
    started = time.monotonic()
    results = asyncio.run(main_async(args))
    print_table(args, results)
    out = args.json or RESULTS / time.strftime('scale-%Y%m%d-%H%M%S.json')
    for result in results.values():
        result.pop('raw', None)
    with contextlib.suppress(TypeError):
        out.write_text(json.dumps({'args': {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                                   'cpus': os.cpu_count(), 'results': results}, indent=1))
    print(f'raw results: {out}; run took {time.monotonic() - started:.0f} s')


if __name__ == '__main__':
    main()
