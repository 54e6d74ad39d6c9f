"""History benchmark: search and the sidebar over a team's years of history, on SQLite and PostgreSQL.

    .venv/bin/python bench/history_bench.py [--messages 1000000] [--databases sqlite,postgresql] [--fresh]

1. Builds the history once (kept in bench/results/ and in PostgreSQL's `chatapp_history` database; --fresh
   builds it again): 100 people, one of whom has 10,000 conversations, the rest sharing the other messages,
   written with the app's own migrations (so its search index) and its table definitions, in batches. The text is
   made of a vocabulary in which some words are common (in a third of the messages), one is rare (a few
   messages), and one message in twenty is Chinese. The person with 10,000 conversations pinned, filed and
   archived some of their newest.
2. Times, for the person with 10,000 conversations and for a typical person, through the app's store:
   `search()` for a rare word, a common word, a Chinese word and a phrase nobody wrote; the sidebar's first
   page (`list_conversations`) and all its lists (`shelves`: pinned, folders, first page). Beside each search,
   the query it replaced (LIKE over the titles and over every message, not only the person's) in the same run:
   the reference.
Prints a table; the raw numbers go to bench/results/history-<time>.json. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, or_, text, update  # noqa: E402
from sqlmodel import select  # noqa: E402

from chatapp.db import Database  # noqa: E402
from chatapp.events import EventBus  # noqa: E402
from chatapp.models import Conversation, Folder, Message, Role, Status, User, utcnow  # noqa: E402
from chatapp.search import like_pattern  # noqa: E402
from chatapp.store import ConversationStore  # noqa: E402
from tests.support.databases import POSTGRES_URL, fresh_postgres  # noqa: E402

RESULTS = BENCH / 'results'
PEOPLE = 100
HEAVY_CONVERSATIONS = 10_000
HEAVY_SHARE = 0.1  # of the messages: the heavy person's
BATCH = 5_000
RUNS = 15
PINNED, FOLDERS, FILED_EACH, ARCHIVED = 5, 10, 20, 100  # of the heavy person's conversations
RARE, COMMON, CHINESE, NOWHERE = 'zanzibarite', 'deployment', '数据库', 'quantum marmalade zeppelin'
QUERIES = {'rare word': RARE, 'common word': COMMON, 'Chinese word': CHINESE, 'no match': NOWHERE}
_TERMS = random.Random(1)  # a vocabulary of made-up words: as varied in its letters as real text
_WORDS = [''.join(_TERMS.choices('abcdefghijklmnopqrstuvwxyz', k=_TERMS.randint(3, 10))) for _ in range(5_000)]
_CHINESE = ['我们的数据库表结构是什么？', '请检查发票和客户之间的关系。', '这个服务的延迟太高了。',
            '发布之前需要代码审查。']


def message_text(rng: random.Random, index: int) -> str:
    if index % 20 == 7:
        return rng.choice(_CHINESE) + rng.choice(_CHINESE)
    words = rng.choices(_WORDS, k=rng.randint(12, 60))
    if rng.random() < 0.33:
        words.insert(rng.randrange(len(words)), COMMON)
    if index % 100_003 == 11:
        words.insert(rng.randrange(len(words)), RARE)
    return ' '.join(words).capitalize() + '.'


async def build(database: Database, messages: int) -> None:
    """The history: people, conversations and messages, as the app's tables hold them."""
    rng = random.Random(4)
    await database.prepare_schema()
    now = utcnow()
    people = [User(provider='bench', subject=f'p{n}', email=f'p{n}@team.example', name=f'Person {n}')
              for n in range(PEOPLE)]
    heavy_messages = int(messages * HEAVY_SHARE)
    plan = [(people[0], HEAVY_CONVERSATIONS, heavy_messages)]
    per_other = (messages - heavy_messages) // (PEOPLE - 1)
    plan += [(person, max(1, per_other // 90), per_other) for person in people[1:]]
    async with database.writing() as session:
        session.add_all(people)
        await session.commit()
    written, index, started = 0, 0, time.monotonic()
    conversations: list[dict] = []
    rows: list[dict] = []
    for person, count, total in plan:
        per_conversation = max(2, total // count)
        for n in range(count):
            at = now - timedelta(minutes=n * 37 + rng.randint(0, 30))
            conversation = {'id': f'{person.subject}-{n:05d}', 'user_id': person.id, 'title': message_text(rng, 1)[:60],
                            'created_at': at, 'updated_at': at, 'shared': False}
            conversations.append(conversation)
            for k in range(per_conversation):
                rows.append({'conversation_id': conversation['id'], 'role': Role.USER if k % 2 == 0 else Role.ASSISTANT,
                             'content': message_text(rng, index), 'status': Status.COMPLETE, 'created_at': at,
                             'updated_at': at})
                index += 1
            if len(rows) >= BATCH:
                written += await _write(database, conversations, rows)
                conversations, rows = [], []
                print(f'\r  {written:,} messages, {time.monotonic() - started:.0f} s', end='', flush=True)
    written += await _write(database, conversations, rows)
    await _arrange(database, people[0])
    async with database.writing() as session:  # the planner's statistics, as a running database has them
        await session.execute(text('ANALYZE'))
        await session.commit()
    print(f'\r  {written:,} messages in {time.monotonic() - started:.0f} s')


async def _arrange(database: Database, person: User) -> None:
    """The person with 10,000 conversations keeps some in order, among their newest (which the sidebar's first
    page then reads past): PINNED pinned, FOLDERS folders of FILED_EACH, ARCHIVED archived."""
    now = utcnow()
    folders = [Folder(user_id=person.id, name=f'Folder {n}') for n in range(FOLDERS)]
    places: dict[int, dict] = {4 + 11 * n: {'archived_at': now} for n in range(ARCHIVED)}
    places |= {5 + 7 * n: {'folder_id': folders[n % FOLDERS].id} for n in range(FOLDERS * FILED_EACH)}
    places |= {n: {'pinned_at': now - timedelta(minutes=n)} for n in (3, 10, 25, 60, 200)[:PINNED]}
    async with database.writing() as session:
        session.add_all(folders)
        for n, values in places.items():
            await session.execute(update(Conversation).where(Conversation.id == f'{person.subject}-{n:05d}')
                                  .values(**values))
        await session.commit()


async def _write(database: Database, conversations: list[dict], rows: list[dict]) -> int:
    async with database.writing() as session:
        if conversations:
            await session.execute(Conversation.__table__.insert(), conversations)
        if rows:
            await session.execute(Message.__table__.insert(), rows)
        await session.commit()
    return len(rows)


async def timed(call, runs: int = RUNS) -> dict[str, float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {'p50_ms': statistics.median(seconds) * 1000, 'p95_ms': seconds[int(len(seconds) * 0.95) - 1] * 1000}


async def before(database: Database, user_id: str, query: str) -> list:
    """The search this one replaced: LIKE over the titles, and over every message of every person."""
    pattern = like_pattern(query)
    in_messages = select(Message.conversation_id).where(func.lower(Message.content).like(pattern, escape='\\'))
    found = select(Conversation.id).where(Conversation.user_id == user_id, or_(
        func.lower(Conversation.title).like(pattern, escape='\\'), Conversation.id.in_(in_messages))) \
        .order_by(Conversation.updated_at.desc()).limit(50)
    async with database.session() as session:
        return list((await session.exec(found)).all())


async def measure(name: str, url: str, messages: int, fresh: bool) -> dict:
    database = Database(url)
    store = ConversationStore(database, EventBus())
    try:
        async with database.session() as session:
            have = (await session.execute(text('SELECT count(*) FROM message'))).scalar_one() \
                if await _has_schema(database) else 0
        if fresh or have < messages * 0.95:
            print(f'{name}: building {messages:,} messages...', flush=True)
            await build(database, messages)
        async with database.session() as session:
            have = (await session.execute(text('SELECT count(*) FROM message'))).scalar_one()
            heavy = (await session.exec(select(User.id).where(User.subject == 'p0'))).one()
            typical = (await session.exec(select(User.id).where(User.subject == 'p42'))).one()
        result: dict = {'messages': have, 'rows': {}}
        for who, user_id in (('10,000 conversations', heavy), ('typical', typical)):
            for label, query in QUERIES.items():
                hits = len(await store.search(user_id, query))
                now = await timed(lambda: store.search(user_id, query))  # noqa: B023
                old = await timed(lambda: before(database, user_id, query), runs=3)  # noqa: B023
                result['rows'][f'{label}, {who}'] = {'hits': hits, **now, 'before_p50_ms': old['p50_ms']}
            page = await timed(lambda: store.list_conversations(user_id))  # noqa: B023
            result['rows'][f'sidebar first page, {who}'] = {'hits': 50, **page, 'before_p50_ms': None}
            lists = await store.shelves(user_id)  # pinned, folders and the first page, as a sidebar reads them
            rows = len(lists.pinned) + sum(len(f.conversations) for f in lists.folders) + len(lists.recent)
            shelves = await timed(lambda: store.shelves(user_id))  # noqa: B023
            result['rows'][f'sidebar all lists, {who}'] = {'hits': rows, **shelves, 'before_p50_ms': None}
        return result
    finally:
        await database.close()


async def _has_schema(database: Database) -> bool:
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: sync.dialect.get_table_names(sync))
    return 'message' in tables


def print_table(results: dict) -> None:
    for name, result in results.items():
        print(f'\n{name}: {result["messages"]:,} messages, {PEOPLE} people (p50/p95 of {RUNS} runs; before: p50 of 3)')
        print(f'{"":<44}{"hits":>6}{"p50 ms":>9}{"p95 ms":>9}{"before ms":>11}{"speed-up":>10}')
        for label, row in result['rows'].items():
            old = row['before_p50_ms']
            speedup = f'{old / row["p50_ms"]:.0f}x' if old else ''
            print(f'{label:<44}{row["hits"]:>6}{row["p50_ms"]:>9.1f}{row["p95_ms"]:>9.1f}'
                  f'{old if old is None else round(old, 1)!s:>11}{speedup:>10}'.replace('None', '   -'))


async def main_async(args: argparse.Namespace) -> dict:
    results = {}
    if 'sqlite' in args.databases:
        path = RESULTS / f'history-{args.messages}.db'
        if args.fresh:
            path.unlink(missing_ok=True)
        results['SQLite'] = await measure('SQLite', f'sqlite+aiosqlite:///{path}', args.messages, args.fresh)
    if 'postgresql' in args.databases:
        url = await fresh_postgres(POSTGRES_URL, f'chatapp_history_{args.messages}') if args.fresh else \
            POSTGRES_URL.rsplit('/', 1)[0] + f'/chatapp_history_{args.messages}'
        try:
            results['PostgreSQL'] = await measure('PostgreSQL', url, args.messages, args.fresh)
        except Exception as error:  # not built yet: build it
            if args.fresh:
                raise
            print(f'PostgreSQL: {error.__class__.__name__}; building it afresh', flush=True)
            url = await fresh_postgres(POSTGRES_URL, f'chatapp_history_{args.messages}')
            results['PostgreSQL'] = await measure('PostgreSQL', url, args.messages, True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description='Search and the sidebar over a long history.')
    parser.add_argument('--messages', type=int, default=1_000_000, help='messages in all (default 1,000,000)')
    parser.add_argument('--databases', default='sqlite,postgresql', help='sqlite, postgresql or both')
    parser.add_argument('--fresh', action='store_true', help='build the history again')
    args = parser.parse_args()
    args.databases = {d.strip() for d in args.databases.split(',')}
    RESULTS.mkdir(exist_ok=True)
    results = asyncio.run(main_async(args))
    print_table(results)
    out = RESULTS / time.strftime('history-%Y%m%d-%H%M%S.json')
    out.write_text(json.dumps(results, indent=1))
    print(f'raw results: {out.relative_to(ROOT)}')


if __name__ == '__main__':
    main()
