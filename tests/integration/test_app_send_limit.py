"""The send rate limit against the real app, without a browser: a burst of sends over the socket from one
person, each from a page of its own (a new conversation, so the one-reply-per-conversation rule does not
refuse them first), is refused past the limit, with nothing stored and nothing sent to the model."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator

import pytest

from tests.support.crowd import SocketClient
from tests.support.servers import App, LLMock

LIMIT = 5
PAGES = 12


@pytest.fixture(scope='module')
def app_server(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMock) -> Iterator[App]:
    with App(tmp_path_factory.mktemp('chatapp'), llm_server, CHATAPP_SENDS_PER_MINUTE=str(LIMIT)) as app:
        yield app


def stored_questions(app: App) -> int:
    with sqlite3.connect(app.database) as database:
        return database.execute("SELECT count(*) FROM message WHERE role = 'user'").fetchone()[0]


async def burst(app: App) -> list[list[str]]:
    """Every page sets its text, then all press Send at once; returns what each page was told."""
    clients = [await SocketClient.open(app.url) for _ in range(PAGES)]
    try:
        for number, client in enumerate(clients):
            await client.fire('composer', 'update:value', f'question from page {number}')
        await asyncio.sleep(0.5)
        await asyncio.gather(*(client.fire('send', 'click') for client in clients))
        deadline = time.monotonic() + 20
        while sum(bool(client.notifications) for client in clients) < PAGES - LIMIT and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # anything more that would come
        return [client.notifications for client in clients]
    finally:
        await asyncio.gather(*(client.close() for client in clients))


def test_a_burst_of_sends_is_refused_past_the_limit(app_server: App, llm: LLMock) -> None:
    llm.script(*[{'type': 'reply', 'text': 'ok'}] * PAGES)
    told = asyncio.run(burst(app_server))
    refused = [notes for notes in told if notes]
    assert len(refused) == PAGES - LIMIT
    assert all('within a minute' in notes[0] and 'Wait' in notes[0] for notes in refused), refused
    assert stored_questions(app_server) == LIMIT
    assert len(llm.requests()) == LIMIT
