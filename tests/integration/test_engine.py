"""The streaming engine against a real OpenAI-protocol server (llmock) and the offline demo model."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatapp.db import Database
from chatapp.engine import Refused, ReplyEngine
from chatapp.events import Event, ReplyDelta, ReplyFinished, ReplyNotice, ReplyStarted, conversation_topic
from chatapp.llm import failures as llm_failures
from chatapp.llm.demo import DemoChatModel
from chatapp.models import Status
from chatapp.settings import Settings
from chatapp.store import ConversationStore
from tests.support.engines import reply_engine
from tests.support.factories import make_conversation
from tests.support.net import free_port
from tests.support.servers import LLMock

LONG_REPLY = ' '.join(f'word{n}' for n in range(300))


def llmock_usage(text: str) -> int:
    """The completion tokens llmock reports for a reply of `text`."""
    from llmock.simulation import estimate_tokens
    return max(1, estimate_tokens(text))


@dataclasses.dataclass
class Harness:
    store: ConversationStore
    engine: ReplyEngine
    user_id: str
    events: list[Event]

    def watch(self, conversation_id: str) -> None:
        self.store.bus.subscribe(conversation_topic(conversation_id), self.events.append)

    async def send(self, text: str, conversation_id: str | None = None):
        sent = await self.engine.send(self.user_id, conversation_id, text)
        self.watch(sent.conversation_id)
        return sent

    async def wait(self, conversation_id: str, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while self.engine.is_busy(conversation_id):
                await asyncio.sleep(0.01)

    async def reply_of(self, conversation_id: str):
        return (await self.store.list_messages(self.user_id, conversation_id))[-1]


async def make_harness(tmp_path: Path, settings: Settings) -> Harness:
    database = Database(f'sqlite+aiosqlite:///{tmp_path / "g.db"}')
    await database.prepare_schema()
    from chatapp.events import EventBus
    store = ConversationStore(database, EventBus())
    user = await store.upsert_user('test', 'alice')
    engine = reply_engine(store, store.bus, settings)
    return Harness(store, engine, user.id, [])


@pytest.fixture
async def llm(tmp_path: Path, llmock: LLMock) -> AsyncIterator[Harness]:
    settings = Settings(openai_base_url=llmock.base_url + '/v1', openai_api_key='test', llm_max_retries=0,
                        llm_timeout=2.0, max_message_chars=1000, system_prompt='Be brief.')
    harness = await make_harness(tmp_path, settings)
    yield harness
    await harness.engine.shutdown()
    await harness.store.db.close()


async def test_reply_streams_in_frames_and_is_stored(llm: Harness, llmock: LLMock) -> None:
    llmock.reply(LONG_REPLY)
    sent = await llm.send('Count for me')
    await llm.wait(sent.conversation_id)

    deltas = [e.text for e in llm.events if isinstance(e, ReplyDelta)]
    assert len(deltas) > 3, 'the reply should reach views in several frames'
    assert ''.join(deltas) == LONG_REPLY
    finished = [e for e in llm.events if isinstance(e, ReplyFinished)]
    assert [(e.status, e.error) for e in finished] == [(Status.COMPLETE, '')]
    reply = await llm.reply_of(sent.conversation_id)
    assert (reply.content, reply.status, reply.model) == (LONG_REPLY, Status.COMPLETE, 'default/gpt-4o-mini')
    reported = llmock_usage(LONG_REPLY)
    assert (reply.completion_tokens, reply.usage_estimated) == (reported, False)
    assert reply.prompt_tokens and reply.first_token_ms is not None and reply.tokens_per_second
    assert finished[0].usage is not None and finished[0].usage.completion_tokens == reported


async def test_prompt_is_built_from_stored_history(llm: Harness, llmock: LLMock) -> None:
    llmock.reply('Paris.')
    sent = await llm.send('Capital of France?')
    await llm.wait(sent.conversation_id)
    llmock.reply('About 2 million.')
    await llm.send('And its population?', sent.conversation_id)
    await llm.wait(sent.conversation_id)

    first, prompt = (request['body']['messages'] for request in llmock.requests()[-2:])
    assert [(m['role'], m['content']) for m in first] == [('system', 'Be brief.'), ('user', 'Capital of France?')]
    assert [(m['role'], m['content']) for m in prompt] == [
        ('system', 'Be brief.'), ('user', 'Capital of France?'), ('assistant', 'Paris.'),
        ('user', 'And its population?')]


async def test_growing_reply_is_saved_while_streaming(llm: Harness, llmock: LLMock) -> None:
    llmock.script({'type': 'reply', 'text': LONG_REPLY}, {'type': 'stream_fault', 'kind': 'stall',
                                                          'after_chunks': 50, 'stall_seconds': 1.5})
    sent = await llm.send('Go')
    await asyncio.sleep(1.3)
    saved = await llm.reply_of(sent.conversation_id)
    assert saved.status == Status.STREAMING and saved.content and LONG_REPLY.startswith(saved.content)
    await llm.wait(sent.conversation_id)
    assert (await llm.reply_of(sent.conversation_id)).content == LONG_REPLY


async def test_replies_streaming_together_are_saved_together_once_a_second(llm: Harness, llmock: LLMock,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[int] = []
    real = llm.store.save_growing

    async def counted(instance_id: str, replies: list) -> None:
        writes.append(len(replies))
        await real(instance_id, replies)

    monkeypatch.setattr(llm.store, 'save_growing', counted)
    stalling = ({'type': 'reply', 'text': LONG_REPLY},
                {'type': 'stream_fault', 'kind': 'stall', 'after_chunks': 50, 'stall_seconds': 1.9})
    llmock.script(*stalling * 3)
    sent = [await llm.send(f'Topic {n}') for n in range(3)]
    await asyncio.sleep(2.3)
    for conversation_id in (s.conversation_id for s in sent):
        saved = await llm.reply_of(conversation_id)
        assert saved.status == Status.STREAMING and saved.content and LONG_REPLY.startswith(saved.content)
    assert writes == [3, 3]  # one write a second for all three replies (stalled or not), not one each
    for s in sent:
        await llm.wait(s.conversation_id)
        assert (await llm.reply_of(s.conversation_id)).content == LONG_REPLY


@pytest.mark.parametrize(('text', 'reason'), [('   \n ', 'empty'), ('x' * 1001, 'limit is 1,000')])
async def test_bad_input_is_refused_and_nothing_is_stored(llm: Harness, text: str, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        await llm.engine.send(llm.user_id, None, text)
    assert await llm.store.list_conversations(llm.user_id) == []


async def test_one_reply_per_conversation_at_a_time(llm: Harness, llmock: LLMock) -> None:
    llmock.reply(LONG_REPLY)
    sent = await llm.send('first')
    with pytest.raises(Refused, match='still being written'):
        await llm.engine.send(llm.user_id, sent.conversation_id, 'second')
    await llm.wait(sent.conversation_id)
    messages = await llm.store.list_messages(llm.user_id, sent.conversation_id)
    assert [m.content for m in messages] == ['first', LONG_REPLY]


async def test_two_sends_racing_get_one_reply(llm: Harness, llmock: LLMock) -> None:
    llmock.reply('one')
    conversation = await make_conversation(llm.store.db, llm.user_id, 'race')
    results = await asyncio.gather(llm.engine.send(llm.user_id, conversation.id, 'a'),
                                   llm.engine.send(llm.user_id, conversation.id, 'b'),
                                   return_exceptions=True)
    assert sorted(isinstance(r, Refused) for r in results) == [False, True]  # one sent, one refused
    await llm.wait(conversation.id)
    assert len(await llm.store.list_messages(llm.user_id, conversation.id)) == 2


async def test_stop_keeps_the_partial_reply(llm: Harness, llmock: LLMock) -> None:
    llmock.script({'type': 'reply', 'text': LONG_REPLY},
                  {'type': 'stream_fault', 'kind': 'stall', 'after_chunks': 20, 'stall_seconds': 5})
    sent = await llm.send('Go')
    async with asyncio.timeout(5):
        while not any(isinstance(e, ReplyDelta) for e in llm.events):
            await asyncio.sleep(0.01)
    llm.engine.stop(llm.user_id, sent.conversation_id)
    await llm.wait(sent.conversation_id)
    reply = await llm.reply_of(sent.conversation_id)
    assert reply.status == Status.STOPPED and reply.content and LONG_REPLY.startswith(reply.content)


@pytest.mark.parametrize(('behavior', 'status', 'message'), [
    ({'type': 'fail', 'status': 500}, Status.ERROR, 'HTTP 500'),
    ({'type': 'fail', 'status': 401}, Status.ERROR, 'API key'),
    ({'type': 'fail', 'status': 404}, Status.ERROR, 'not found'),
    ({'type': 'fail', 'status': 429, 'retry_after': 0.1}, Status.ERROR, 'rate limiting'),
    ({'type': 'stream_fault', 'kind': 'disconnect', 'after_chunks': 5}, Status.INTERRUPTED, 'broke off'),
    ({'type': 'stream_fault', 'kind': 'truncate', 'after_chunks': 5}, Status.INTERRUPTED, 'ended before'),
    ({'type': 'stream_fault', 'kind': 'malformed', 'after_chunks': 5}, Status.INTERRUPTED, 'malformed'),
    ({'type': 'stream_fault', 'kind': 'stall', 'after_chunks': 5, 'stall_seconds': 10}, Status.INTERRUPTED,
     'nothing for 2 seconds'),
])
async def test_model_failures_end_in_a_clear_state(llm: Harness, llmock: LLMock, behavior: dict, status: Status,
                                                   message: str) -> None:
    llmock.script({'type': 'reply', 'text': LONG_REPLY}, behavior)
    sent = await llm.send('Go')
    await llm.wait(sent.conversation_id)
    reply = await llm.reply_of(sent.conversation_id)
    assert reply.status == status
    assert message in reply.error
    assert LONG_REPLY.startswith(reply.content)
    if status == Status.INTERRUPTED:
        assert reply.content, 'what was generated before the fault is kept'


async def test_retry_is_a_regenerate_that_keeps_the_failed_reply(llm: Harness, llmock: LLMock) -> None:
    llmock.script({'type': 'fail', 'status': 500})
    sent = await llm.send('Go')
    await llm.wait(sent.conversation_id)
    llmock.reply('Second time lucky.')
    again = await llm.engine.regenerate(llm.user_id, sent.conversation_id, sent.reply.id)
    await llm.wait(sent.conversation_id)
    messages = await llm.store.list_messages(llm.user_id, sent.conversation_id)
    assert [(m.content, m.status, m.error) for m in messages[1:]] == [('Second time lucky.', Status.COMPLETE, '')]
    assert sum(isinstance(e, ReplyStarted) for e in llm.events) == 1  # watched after the first start
    branch = await llm.store.read_branch(llm.user_id, sent.conversation_id)
    assert branch is not None and branch.siblings[again.id] == [sent.reply.id, again.id]
    failed = await llm.store.list_messages(llm.user_id, sent.conversation_id, up_to=sent.reply.id)
    assert failed[-1].status == Status.ERROR and 'HTTP 500' in failed[-1].error, 'the failed reply is kept'
    prompts = [request['body']['messages'] for request in llmock.requests()[-1:]]
    assert [m['content'] for m in prompts[0] if m['role'] == 'user'] == ['Go'], 'asked once, without the failure'


async def test_no_second_reply_while_one_streams_whatever_the_branch(llm: Harness, llmock: LLMock) -> None:
    llmock.reply('first')
    first = await llm.send('first')
    await llm.wait(first.conversation_id)
    llmock.script({'type': 'reply', 'text': LONG_REPLY})
    second = await llm.send('second', first.conversation_id)
    with pytest.raises(Refused, match='still being written'):
        await llm.engine.regenerate(llm.user_id, first.conversation_id, first.reply.id)
    with pytest.raises(Refused, match='still being written'):
        await llm.engine.send(llm.user_id, first.conversation_id, 'edited', instead_of=second.question.id)
    await llm.wait(first.conversation_id)
    shown = await llm.store.list_messages(llm.user_id, first.conversation_id)
    assert [m.content for m in shown][:3] == ['first', 'first', 'second'], 'nothing was added by the refusals'


async def test_an_edit_is_a_new_branch_and_the_old_one_stays_whole(llm: Harness, llmock: LLMock) -> None:
    llmock.reply('one')
    first = await llm.send('first')
    await llm.wait(first.conversation_id)
    llmock.reply('two')
    second = await llm.send('second', first.conversation_id)
    await llm.wait(first.conversation_id)
    llmock.reply('two, edited')
    edited = await llm.engine.send(llm.user_id, first.conversation_id, 'second, edited', instead_of=second.question.id)
    await llm.wait(first.conversation_id)
    shown = await llm.store.list_messages(llm.user_id, first.conversation_id)
    assert [m.content for m in shown] == ['first', 'one', 'second, edited', 'two, edited']
    sent = llmock.requests()[-1]['body']['messages']
    assert [m['content'] for m in sent if m['role'] != 'system'] == ['first', 'one', 'second, edited']
    old = await llm.store.list_messages(llm.user_id, first.conversation_id, up_to=second.reply.id)
    assert [m.content for m in old] == ['first', 'one', 'second', 'two']
    assert await llm.store.show_branch(llm.user_id, first.conversation_id, second.question.id)
    assert [m.content for m in await llm.store.list_messages(llm.user_id, first.conversation_id)] == \
        ['first', 'one', 'second', 'two']
    assert edited.question.parent_id == second.question.parent_id
    with pytest.raises(Refused, match='does not exist'):
        await llm.engine.send(llm.user_id, first.conversation_id, 'x', instead_of=first.reply.id)  # not a question
    llmock.reply('still works')
    await llm.send('after a refused edit', first.conversation_id)  # the refusal released the conversation


async def test_shutdown_saves_running_replies_as_interrupted(llm: Harness, llmock: LLMock) -> None:
    llmock.script({'type': 'reply', 'text': LONG_REPLY},
                  {'type': 'stream_fault', 'kind': 'stall', 'after_chunks': 10, 'stall_seconds': 5})
    sent = await llm.send('Go')
    await asyncio.sleep(0.3)
    await llm.engine.shutdown()
    reply = await llm.reply_of(sent.conversation_id)
    assert reply.status == Status.INTERRUPTED and reply.content


async def test_demo_model_streams_through_the_same_path(tmp_path: Path) -> None:
    harness = await make_harness(tmp_path, Settings())  # no endpoint configured: the demo model answers
    demo = harness.engine.catalog.chat_model(harness.engine.catalog.default_key)
    assert isinstance(demo, DemoChatModel)
    demo.delay = 0.001
    sent = await harness.send('Hello demo')
    await harness.wait(sent.conversation_id)
    reply = await harness.reply_of(sent.conversation_id)
    assert reply.status == Status.COMPLETE
    assert reply.content.startswith('**This is the offline demo model.**') and '> Hello demo' in reply.content
    assert ''.join(e.text for e in harness.events if isinstance(e, ReplyDelta)) == reply.content
    await harness.store.db.close()


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # the module object this file imported: NiceGUI's User fixture may have re-imported `chatapp` since
    monkeypatch.setattr(llm_failures, 'RETRY_BACKOFF_SECONDS', (0.05, 0.1))


async def retrying(tmp_path: Path, llmock: LLMock, retries: int) -> Harness:
    settings = Settings(openai_base_url=llmock.base_url + '/v1', openai_api_key='test', llm_max_retries=retries,
                        llm_timeout=2.0)
    return await make_harness(tmp_path, settings)


async def test_rate_limit_is_waited_out_as_asked_and_shown(tmp_path: Path, llmock: LLMock) -> None:
    harness = await retrying(tmp_path, llmock, retries=2)
    llmock.script({'type': 'fail', 'status': 429, 'retry_after': 1}, {'type': 'reply', 'text': 'Done waiting.'})
    sent = await harness.send('Go')
    await harness.wait(sent.conversation_id)
    reply = await harness.reply_of(sent.conversation_id)
    assert (reply.content, reply.status) == ('Done waiting.', Status.COMPLETE)
    notices = [e.text for e in harness.events if isinstance(e, ReplyNotice)]
    assert notices == ['The model endpoint is rate limiting requests; trying again in 1 s…']
    first, second = llmock.requests()
    assert second['started_at'] - first['started_at'] >= 1.0, 'Retry-After was honoured'
    await harness.store.db.close()


async def test_server_errors_are_retried_a_bounded_number_of_times(tmp_path: Path, llmock: LLMock,
                                                                   quick_backoff: None) -> None:
    harness = await retrying(tmp_path, llmock, retries=2)
    llmock.script({'type': 'fail', 'status': 503, 'times': None})
    sent = await harness.send('Go')
    await harness.wait(sent.conversation_id)
    reply = await harness.reply_of(sent.conversation_id)
    assert reply.status == Status.ERROR and 'HTTP 503' in reply.error
    assert len(llmock.requests()) == 3, 'one try and two retries, no storm'
    await harness.store.db.close()


async def test_a_bad_key_is_not_retried(tmp_path: Path, llmock: LLMock, quick_backoff: None) -> None:
    harness = await retrying(tmp_path, llmock, retries=2)
    llmock.script({'type': 'fail', 'status': 401, 'times': None})
    sent = await harness.send('Go')
    await harness.wait(sent.conversation_id)
    assert (await harness.reply_of(sent.conversation_id)).status == Status.ERROR
    assert len(llmock.requests()) == 1
    await harness.store.db.close()


async def test_a_long_conversation_is_trimmed_to_the_context_budget(tmp_path: Path, llmock: LLMock) -> None:
    settings = Settings(openai_base_url=llmock.base_url + '/v1', openai_api_key='test', llm_max_retries=0,
                        max_context_tokens=300, system_prompt='Be brief.')
    harness = await make_harness(tmp_path, settings)
    conversation_id = None
    for n in range(6):
        llmock.reply(f'answer {n} ' + 'filler ' * 40)
        sent = await harness.send(f'question {n} ' + 'padding ' * 40, conversation_id)
        conversation_id = sent.conversation_id
        await harness.wait(conversation_id)
    prompt = llmock.requests()[-1]['body']['messages']
    assert prompt[0] == {'role': 'system', 'content': 'Be brief.'}
    assert prompt[1]['role'] == 'user' and prompt[-1]['content'].startswith('question 5')
    assert 2 < len(prompt) < 12, 'older turns were dropped, the newest kept'
    assert sum(len(m['content']) for m in prompt) // 4 < 300
    await harness.store.db.close()


async def test_shutdown_lets_running_replies_finish_within_the_grace(llm: Harness, llmock: LLMock) -> None:
    llmock.reply('short and sweet ' * 10)
    sent = await llm.send('Go')
    await llm.engine.shutdown(grace=10)
    reply = await llm.reply_of(sent.conversation_id)
    assert (reply.status, reply.content) == (Status.COMPLETE, 'short and sweet ' * 10)
    with pytest.raises(Refused, match='restarting'):
        await llm.engine.send(llm.user_id, sent.conversation_id, 'one more')
    with pytest.raises(Refused, match='restarting'):
        await llm.engine.send(llm.user_id, None, 'a new chat')
    assert len(await llm.store.list_conversations(llm.user_id)) == 1


async def test_unreachable_endpoint_is_named_and_retried_a_bounded_number_of_times(tmp_path: Path,
                                                                                  quick_backoff: None) -> None:
    closed = f'http://127.0.0.1:{free_port()}/v1'  # nothing listens there: connection refused
    harness = await make_harness(tmp_path, Settings(openai_base_url=closed, openai_api_key='k', llm_max_retries=2))
    sent = await harness.send('Anyone there?')
    await harness.wait(sent.conversation_id)
    reply = await harness.reply_of(sent.conversation_id)
    assert reply.status == Status.ERROR and closed in reply.error and 'failed' in reply.error
    assert len([e for e in harness.events if isinstance(e, ReplyNotice)]) == 2
    await harness.store.db.close()


async def test_a_slow_first_token_within_the_limit_is_fine(llm: Harness, llmock: LLMock) -> None:
    llmock.script({'type': 'reply', 'text': 'Worth the wait.'}, {'type': 'slow_first_token', 'seconds': 1.2})
    sent = await llm.send('Think hard')
    await llm.wait(sent.conversation_id)
    reply = await llm.reply_of(sent.conversation_id)
    assert (reply.status, reply.content) == (Status.COMPLETE, 'Worth the wait.')



async def test_the_final_save_outlasts_a_locked_database(tmp_path: Path, llmock: LLMock,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    import sqlite3

    from chatapp import db as db_module
    from chatapp.engine import replies as replies_module
    monkeypatch.setattr(db_module, 'SQLITE_BUSY_TIMEOUT_MS', 0)  # fail at once instead of waiting 5 s
    monkeypatch.setattr(replies_module, 'FINAL_SAVE_DELAYS', (0.5, 0.5))
    harness = await make_harness(tmp_path, Settings(openai_base_url=llmock.base_url + '/v1', openai_api_key='test',
                                                    llm_max_retries=0, llm_timeout=5.0))
    llmock.script({'type': 'reply', 'text': 'Saved in the end.'},
                  {'type': 'stream_fault', 'kind': 'stall', 'after_chunks': 2, 'stall_seconds': 1.0})
    try:
        sent = await harness.send('Go')
        blocker = sqlite3.connect(tmp_path / 'g.db', timeout=0)  # another writer holds the lock meanwhile
        blocker.execute('BEGIN IMMEDIATE')
        async with asyncio.timeout(10):  # the reply ends (at ~1 s) while the database is locked: its final save waits
            while 'trying again' not in caplog.text:
                await asyncio.sleep(0.05)
        blocker.rollback()
        blocker.close()
        await harness.wait(sent.conversation_id)
        reply = await harness.reply_of(sent.conversation_id)
        assert (reply.content, reply.status) == ('Saved in the end.', Status.COMPLETE)
        assert 'trying again' in caplog.text
    finally:
        await harness.engine.shutdown()
        await harness.store.db.close()


async def test_a_locked_database_refuses_a_send_in_words(tmp_path: Path, llmock: LLMock,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from chatapp import db as db_module
    monkeypatch.setattr(db_module, 'SQLITE_BUSY_TIMEOUT_MS', 0)
    harness = await make_harness(tmp_path, Settings(openai_base_url=llmock.base_url + '/v1', openai_api_key='test'))
    blocker = sqlite3.connect(tmp_path / 'g.db', timeout=0)
    blocker.execute('BEGIN IMMEDIATE')
    try:
        with pytest.raises(Refused, match='Your message was not sent: the server could not store it'):
            await harness.send('Hello?')
        assert harness.engine.running_count == 0, 'nothing is left reserved'
    finally:
        blocker.rollback()
        blocker.close()
        await harness.engine.shutdown()
        await harness.store.db.close()


async def test_text_that_is_not_valid_unicode_is_cleaned_at_the_boundary(llm: Harness, llmock: LLMock) -> None:
    """A lone surrogate cannot be encoded and NUL cannot be stored in PostgreSQL: saves used to fail on them."""
    llmock.reply('half an emoji \udc00 and a NUL \x00 here')
    sent = await llm.send('a question with \ud83d half an emoji')
    await llm.wait(sent.conversation_id)
    question, reply = await llm.store.list_messages(llm.user_id, sent.conversation_id)
    assert question.content == 'a question with \ufffd half an emoji'
    assert (reply.content, reply.status) == ('half an emoji \ufffd and a NUL \ufffd here', Status.COMPLETE)


async def test_a_reply_that_cannot_be_saved_does_not_stop_the_saves_of_others(
        llm: Harness, llmock: LLMock, monkeypatch: pytest.MonkeyPatch) -> None:
    real = llm.store.save_growing
    saved: list[int] = []
    doomed: set[int] = set()

    async def failing_for_one(instance_id: str, replies: list) -> None:
        if any(reply.message_id in doomed for reply in replies):
            raise ValueError('this reply cannot be saved')
        saved.extend(reply.message_id for reply in replies if reply.text is not None)
        await real(instance_id, replies)

    monkeypatch.setattr(llm.store, 'save_growing', failing_for_one)
    stalling = ({'type': 'reply', 'text': LONG_REPLY},
                {'type': 'stream_fault', 'kind': 'stall', 'after_chunks': 50, 'stall_seconds': 1.9})
    llmock.script(*stalling * 2)
    bad, good = await llm.send('Topic bad'), await llm.send('Topic good')
    doomed.add(bad.reply.id)
    await llm.wait(bad.conversation_id)
    failed = await llm.reply_of(bad.conversation_id)
    assert (failed.status, failed.error) == (Status.INTERRUPTED, 'The reply could not be saved, so it was ended here.')
    assert failed.content and LONG_REPLY.startswith(failed.content)
    assert good.reply.id in saved  # its growing text was saved in the same pass, alone
    await llm.wait(good.conversation_id)
    assert (await llm.reply_of(good.conversation_id)).content == LONG_REPLY


async def test_a_finished_reply_is_stored_rendered(llm: Harness, llmock: LLMock) -> None:
    llmock.reply('Some **bold** words.')
    sent = await llm.send('Format something')
    await llm.wait(sent.conversation_id)
    assert (await llm.reply_of(sent.conversation_id)).html == '<p>Some <strong>bold</strong> words.</p>\n'
