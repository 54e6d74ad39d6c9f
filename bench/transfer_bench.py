"""Transfer benchmark: exporting a big account as a ZIP, importing ChatGPT exports, on SQLite and PostgreSQL.

    .venv/bin/python bench/transfer_bench.py [--messages 100000] [--imports 200,1000] [--databases sqlite,postgresql]

1. Export: the history of bench/history_bench.py (built once and cached: bench/results/history-<n>.db and
   PostgreSQL's `chatapp_history_<n>`; 100 people, one with 10,000 conversations), read through
   `chatapp.transfer.export.all_data` for the person with 10,000 conversations and for a typical one, the ZIP's
   bytes counted and thrown away as a client that reads them would.
2. Import: ChatGPT exports of `--imports` conversations made by tests/support/chatgpt_export.py (six questions
   and answers each, 60-250 words an answer, a regenerated answer in one of ten), each into an empty database
   through `chatapp.transfer.imports.import_file`, as the import dialog runs it.

Each measurement runs in a process of its own, after its modules are imported and its database opened; its peak
memory is the highest resident set size during the work (sampled every 5 ms) less the size just before it.
Prints a table; raw numbers in bench/results/transfer-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from sqlalchemy import text  # noqa: E402
from sqlmodel import select  # noqa: E402

from chatapp.db import Database  # noqa: E402
from chatapp.events import EventBus  # noqa: E402
from chatapp.models import Conversation, User, utcnow  # noqa: E402
from chatapp.store import ConversationStore  # noqa: E402
from chatapp.transfer import export  # noqa: E402
from chatapp.transfer.imports import import_file  # noqa: E402
from tests.support.chatgpt_export import file_bytes, generated  # noqa: E402
from tests.support.databases import POSTGRES_URL, fresh_postgres  # noqa: E402

RESULTS = BENCH / 'results'
MAX_BYTES = 2_000_000_000


PAGE_BYTES = os.sysconf('SC_PAGE_SIZE')


def rss() -> int:
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES


class PeakMemory:
    """The highest resident set size while it runs, sampled every 5 ms by a thread, above what it was at the
    start: what the work added at its worst (the process's lifetime high-water mark may be older)."""

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, rss())

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


# --- the measurements, each in a child process --------------------------------------------------------------

async def child_export(url: str, subject: str) -> dict:
    database = Database(url)
    store = ConversationStore(database, EventBus())
    try:
        async with database.session() as session:
            user_id = (await session.exec(select(User.id).where(User.subject == subject))).one()
            conversations = len((await session.exec(select(Conversation.id).where(
                Conversation.user_id == user_id))).all())
        await store.own_trees(user_id, limit=1)  # the first query's connection and caches, before the baseline
        started, size, chunks = time.perf_counter(), 0, 0
        with PeakMemory() as memory:
            async for chunk in export.all_data(store, user_id, 'bench', utcnow()):
                size, chunks = size + len(chunk), chunks + 1
        seconds = time.perf_counter() - started
        return {'conversations': conversations, 'seconds': seconds, 'zip_mb': size / 1e6, 'chunks': chunks,
                'peak_growth_mb': memory.growth_mb}
    finally:
        await database.close()


async def child_import(url: str, path: str) -> dict:
    database = Database(url)
    await database.prepare_schema()
    store = ConversationStore(database, EventBus())
    try:
        user = await store.upsert_user('bench', 'importer', name='Importer')
        started = time.perf_counter()
        file = _open(path)
        try:
            with PeakMemory() as memory:
                report = await import_file(store, user.id, file, MAX_BYTES)
        finally:
            file.close()
        seconds = time.perf_counter() - started
        async with database.session() as session:
            messages = (await session.exec(text('SELECT count(*) FROM message'))).scalar_one()
        return {'conversations': len(report.imported), 'failed': report.failures, 'messages': messages,
                'seconds': seconds, 'file_mb': _size(path) / 1e6,
                'peak_growth_mb': memory.growth_mb}
    finally:
        await database.close()


def _open(path: str) -> IO[bytes]:
    return open(path, 'rb')  # closed by the caller


def _size(path: str) -> int:
    return Path(path).stat().st_size


def _remove_sqlite(path: Path) -> None:
    for suffix in ('', '-wal', '-shm'):
        Path(f'{path}{suffix}').unlink(missing_ok=True)


def run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, '--child', *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f'{args}: {done.stderr[-2000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the data ---------------------------------------------------------------------------------------------------

async def history_url(name: str, messages: int) -> str:
    """The cached history of history_bench.py, built when missing."""
    import history_bench
    if name == 'SQLite':
        url = f'sqlite+aiosqlite:///{RESULTS / f"history-{messages}.db"}'
    else:
        url = POSTGRES_URL.rsplit('/', 1)[0] + f'/chatapp_history_{messages}'
    try:
        have = await _count_messages(url)
    except Exception:  # no such database yet
        have = 0
    if have < messages * 0.95:
        if name != 'SQLite':
            url = await fresh_postgres(POSTGRES_URL, f'chatapp_history_{messages}')
        print(f'{name}: building the history of {messages:,} messages...', flush=True)
        database = Database(url)
        try:
            await history_bench.build(database, messages)
        finally:
            await database.close()
    return url


async def _count_messages(url: str) -> int:
    database = Database(url)
    try:
        async with database.session() as session:
            return (await session.exec(text('SELECT count(*) FROM message'))).scalar_one()
    finally:
        await database.close()


def chatgpt_file(count: int) -> Path:
    path = RESULTS / f'chatgpt-{count}.json'
    if not path.exists():
        path.write_bytes(file_bytes(generated(count)))
    return path


async def import_url(name: str, tag: str) -> str:
    if name == 'SQLite':
        path = RESULTS / f'import-{tag}.db'
        _remove_sqlite(path)
        return f'sqlite+aiosqlite:///{path}'
    return await fresh_postgres(POSTGRES_URL, f'chatapp_transfer_bench_{tag}')


# --- the run ----------------------------------------------------------------------------------------------------

async def main_async(args: argparse.Namespace) -> dict:
    results: dict = {}
    for name in ('SQLite', 'PostgreSQL'):
        if name.lower() not in args.databases:
            continue
        url = await history_url(name, args.messages)
        rows = results[name] = {}
        for who, subject in (('export: 10,000 conversations', 'p0'), ('export: a typical person', 'p42')):
            rows[who] = run_child('export', url, subject)
            print(f'{name} {who}: {rows[who]}', flush=True)
        for count in args.imports:
            target = await import_url(name, str(count))
            rows[f'import: ChatGPT, {count:,} conversations'] = run_child('import', target, str(chatgpt_file(count)))
            print(f'{name} import {count}: {rows[f"import: ChatGPT, {count:,} conversations"]}', flush=True)
    return results


def print_table(results: dict) -> None:
    print(f'\n{"":<48}{"conversations":>14}{"messages":>10}{"file MB":>9}{"seconds":>9}{"peak MB":>9}')
    for name, rows in results.items():
        print(name)
        for label, row in rows.items():
            size = row.get('zip_mb', row.get('file_mb', 0))
            print(f'  {label:<46}{row["conversations"]:>14,}{row.get("messages", 0) or "":>10}{size:>9.1f}'
                  f'{row["seconds"]:>9.2f}{row["peak_growth_mb"]:>9.1f}')
    print('(file MB: the ZIP written, or the export read; peak MB: the highest RSS during the work less RSS before)')


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == '--child':
        kind, url, argument = sys.argv[2:5]
        work = child_export(url, argument) if kind == 'export' else child_import(url, argument)
        print(json.dumps(asyncio.run(work)))
        return
    parser = argparse.ArgumentParser(description='Export of a big account and import of ChatGPT exports.')
    parser.add_argument('--messages', type=int, default=100_000,
                        help="history_bench's history to export (default 100,000 messages; it is cached)")
    parser.add_argument('--imports', default='200,1000', help='sizes of the ChatGPT exports imported')
    parser.add_argument('--databases', default='sqlite,postgresql', help='sqlite, postgresql or both')
    args = parser.parse_args()
    args.databases = {d.strip() for d in args.databases.split(',')}
    args.imports = [int(n) for n in args.imports.split(',')]
    RESULTS.mkdir(exist_ok=True)
    results = asyncio.run(main_async(args))
    print_table(results)
    out = RESULTS / time.strftime('transfer-%Y%m%d-%H%M%S.json')
    out.write_text(json.dumps(results, indent=1))
    print(f'raw results: {out.relative_to(ROOT)}')


if __name__ == '__main__':
    main()
