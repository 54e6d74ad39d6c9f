"""Several endpoints and their models against two real OpenAI-protocol servers (llmock): which models are offered,
which endpoint a reply goes to, what it cost, the title a model writes, and people's presets."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from chatapp.db import Database
from chatapp.engine import Refused, ReplyEngine, Sent
from chatapp.engine.titles import INSTRUCTIONS
from chatapp.events import (
    ConversationChanged,
    Event,
    EventBus,
    ReplyDelta,
    ReplyFinished,
    conversation_topic,
    user_topic,
)
from chatapp.llm.catalog import ModelCatalog
from chatapp.llm.config import PresetConfig
from chatapp.llm.demo import DemoChatModel
from chatapp.llm.prompt import estimate_text_tokens, estimate_tokens
from chatapp.models import Conversation, Message, Status, TitleSource, utcnow
from chatapp.presets import PresetError, Presets
from chatapp.settings import Settings
from chatapp.store import ConversationStore, title_from
from tests.support.engines import reply_engine
from tests.support.net import free_port
from tests.support.servers import LLMock

CHAT_PATH = '/v1/chat/completions'
QUESTION = 'Where should I travel in April?\nSomewhere with museums and good food.'
ANSWER = 'Paris: the museums are quieter in April, and the food is good all year.'
LONG_ANSWER = ' '.join(f'word{n}' for n in range(150))  # about a second at llmock's 5 ms a chunk
# llmock lists gpt-4o, gpt-4o-mini, gpt-4-turbo, gpt-3.5-turbo, gpt-image-1 and two embedding models: the chat
# models of each endpoint, by name, less those configured
DISCOVERED = ['gpt-3.5-turbo', 'gpt-4-turbo', 'gpt-4o', 'gpt-4o-mini']
PRICES = {'a/gpt-4o-mini': (0.15, 0.60), 'b/gpt-4o': (2.50, 10.00)}


def models_toml(a: LLMock, b: LLMock, *, down: bool = False, b_discovers: bool = True) -> str:
    """Endpoint a with its cheap default model, endpoint b with a priced model and one it does not list; `down`: a
    third endpoint on a port nobody listens on."""
    text = f'''
default_model = "a/gpt-4o-mini"

[endpoints.a]
base_url = "{a.base_url}/v1"
api_key = "key-a"

[endpoints.b]
base_url = "{b.base_url}/v1"
api_key_env = "CHATAPP_TEST_B_KEY"
discover = {str(b_discovers).lower()}

[[models]]
name = "gpt-4o-mini"
endpoint = "a"
label = "Mini on a"
price_input = 0.15
price_output = 0.60

[[models]]
name = "gpt-4o"
endpoint = "b"
label = "GPT-4o on b"
context_window = 128000
price_input = 2.50
price_output = 10.00

[[models]]
name = "house-model"
endpoint = "b"
label = "House model"
'''
    if down:
        text += f'''
[endpoints.down]
base_url = "http://127.0.0.1:{free_port()}/v1"

[[models]]
name = "llama3"
endpoint = "down"
label = "Llama on the GPU box"
'''
    return text


def chat_requests(server: LLMock) -> list[dict]:
    """The chat completions a server was asked for, oldest first."""
    return [r for r in server.requests() if r['path'] == CHAT_PATH]


def reported_tokens(request: dict, answer: str) -> tuple[int, int]:
    """The (prompt, completion) tokens llmock reports for a request and its answer."""
    from llmock.simulation import estimate_tokens as llmock_tokens
    return llmock_tokens(*(m['content'] for m in request['body']['messages'])), max(1, llmock_tokens(answer))


def cost(key: str, prompt: int, completion: int) -> float:
    price_input, price_output = PRICES[key]
    return (prompt * price_input + completion * price_output) / 1e6


@dataclasses.dataclass
class Chat:
    store: ConversationStore
    engine: ReplyEngine
    user_id: str
    events: list[Event]

    @property
    def catalog(self) -> ModelCatalog:
        return self.engine.catalog

    async def send(self, text: str, conversation_id: str | None = None, **options: object) -> Sent:
        sent = await self.engine.send(self.user_id, conversation_id, text, **options)
        self.store.bus.subscribe(conversation_topic(sent.conversation_id), self.events.append)
        return sent

    async def wait(self, conversation_id: str, timeout: float = 10) -> Message:
        """The conversation's last message, once its reply has ended."""
        async with asyncio.timeout(timeout):
            while self.engine.is_busy(conversation_id):
                await asyncio.sleep(0.01)
        return (await self.store.list_messages(self.user_id, conversation_id))[-1]

    async def first_delta(self, conversation_id: str) -> None:
        """Once the reply has begun to stream: its request has been answered."""
        async with asyncio.timeout(5):
            while not any(isinstance(e, ReplyDelta) and e.conversation_id == conversation_id for e in self.events):
                await asyncio.sleep(0.01)

    async def conversation(self, conversation_id: str) -> Conversation:
        branch = await self.store.read_branch(self.user_id, conversation_id)
        assert branch is not None and branch.conversation is not None
        return branch.conversation

    async def titled(self, conversation_id: str) -> Conversation:
        """The conversation once no title is being written any more."""
        async with asyncio.timeout(10):
            while self.engine.titles._tasks:  # the title writer's calls still running
                await asyncio.sleep(0.01)
        return await self.conversation(conversation_id)


OpenChat = Callable[..., Awaitable[Chat]]


@pytest.fixture(scope='module')
def llmock_b_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMock]:
    """The second endpoint's server, as quick as the session's llmock."""
    with LLMock(tmp_path_factory.mktemp('llmock-b'), chunk_delay_ms=5) as server:
        yield server


@pytest.fixture
def llmock_b(llmock_b_server: LLMock) -> LLMock:
    return llmock_b_server.reset()


@pytest.fixture
async def open_chat(tmp_path: Path, llmock: LLMock, llmock_b: LLMock,
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OpenChat]:
    """`await open_chat(...)`: an engine over a models file with endpoints a (llmock) and b (llmock_b), whose
    model lists have been read (unless `refresh` is false); `demo`: no file and no endpoint, the demo model."""
    monkeypatch.setenv('CHATAPP_TEST_B_KEY', 'key-b')
    opened: list[Chat] = []

    async def open_chat(*, down: bool = False, b_discovers: bool = True, titles: bool = False,
                        title_model: str = '', refresh: bool = True, demo: bool = False) -> Chat:
        path = tmp_path / f'models-{len(opened)}.toml'
        path.write_text(models_toml(llmock, llmock_b, down=down, b_discovers=b_discovers))
        settings = Settings(models_file='' if demo else str(path), llm_max_retries=0, llm_timeout=2.0,
                            system_prompt='Be brief.', title_model=title_model)
        database = Database(f'sqlite+aiosqlite:///{tmp_path / f"chat-{len(opened)}.db"}')
        await database.prepare_schema()
        store = ConversationStore(database, EventBus())
        user = await store.upsert_user('test', 'alice')
        chat = Chat(store, reply_engine(store, store.bus, settings, titles=titles), user.id, [])
        opened.append(chat)
        if refresh:
            await chat.catalog.refresh()
        return chat

    yield open_chat
    for chat in opened:
        await chat.engine.shutdown()
        await chat.catalog.close()
        await chat.store.db.close()


# --- which models are offered ------------------------------------------------------------------------------

async def test_configured_models_come_first_then_each_endpoints_discovered_ones(open_chat: OpenChat, llmock: LLMock,
                                                                             llmock_b: LLMock) -> None:
    chat = await open_chat(refresh=False)
    configured = ['a/gpt-4o-mini', 'b/gpt-4o', 'b/house-model']
    assert [m.key for m in chat.catalog.models()] == configured, 'before the lists are read: those configured'
    assert chat.catalog.status() == {'a': 'unknown', 'b': 'unknown'}

    await chat.catalog.refresh()
    models = chat.catalog.models()
    keys = [m.key for m in models]
    assert keys == configured + [f'a/{n}' for n in DISCOVERED if n != 'gpt-4o-mini'] \
        + [f'b/{n}' for n in DISCOVERED if n != 'gpt-4o']
    assert len(set(keys)) == len(keys)
    assert not any('image' in key or 'embedding' in key for key in keys), 'only chat models are offered'
    assert all(m.available for m in models) and chat.catalog.status() == {'a': 'ok', 'b': 'ok'}
    by_key = {m.key: m for m in models}
    assert (by_key['b/gpt-4o'].label, by_key['b/gpt-4o'].context_window) == ('GPT-4o on b', 128000)
    assert (by_key['a/gpt-4o'].label, by_key['a/gpt-4o'].price_input) == ('gpt-4o', None)
    for server in (llmock, llmock_b):
        assert [(r['method'], r['path']) for r in server.requests()] == [('GET', '/v1/models')]


async def test_an_endpoint_that_does_not_discover_offers_only_its_configured_models(open_chat: OpenChat) -> None:
    chat = await open_chat(b_discovers=False)
    assert [m.key for m in chat.catalog.models() if m.endpoint == 'b'] == ['b/gpt-4o', 'b/house-model']
    assert chat.catalog.get('b/gpt-4-turbo') is None
    assert chat.catalog.get('a/gpt-4-turbo') is not None, 'a discovers: any model of its may answer'
    with pytest.raises(Refused, match='not offered'):
        await chat.send(QUESTION, model='b/gpt-4-turbo')
    assert await chat.store.list_conversations(chat.user_id) == []


async def test_an_unreachable_endpoint_greys_out_its_models_and_the_others_work(open_chat: OpenChat,
                                                                                llmock: LLMock) -> None:
    chat = await open_chat(down=True)
    assert chat.catalog.status() == {'a': 'ok', 'b': 'ok', 'down': 'unreachable'}
    by_key = {m.key: m for m in chat.catalog.models()}
    assert (by_key['down/llama3'].available, by_key['down/llama3'].reason) == (False, 'down: cannot connect to it')
    assert all(m.available for m in by_key.values() if m.endpoint != 'down')

    with pytest.raises(Refused, match=r'Llama on the GPU box cannot answer just now \(down: cannot connect'):
        await chat.send(QUESTION, model='down/llama3')
    assert await chat.store.list_conversations(chat.user_id) == [], 'nothing is stored'

    llmock.reply(ANSWER)
    sent = await chat.send(QUESTION)
    reply = await chat.wait(sent.conversation_id)
    assert (reply.content, reply.status, reply.model) == (ANSWER, Status.COMPLETE, 'a/gpt-4o-mini')
    with pytest.raises(Refused, match='cannot answer just now'):
        await chat.send('And in May?', sent.conversation_id, model='down/llama3')
    with pytest.raises(Refused, match='cannot answer just now'):
        await chat.engine.regenerate(chat.user_id, sent.conversation_id, sent.reply.id, model='down/llama3')
    assert [m.content for m in await chat.store.list_messages(chat.user_id, sent.conversation_id)] == \
        [QUESTION, ANSWER], 'the refusals added nothing'
    assert (await chat.conversation(sent.conversation_id)).model == 'a/gpt-4o-mini'


@pytest.mark.parametrize('key', ['nowhere/gpt-4o', 'gpt-4o', 'a/', '/gpt-4o', 'demo/offline'])
async def test_a_model_nobody_offers_is_refused_before_anything_is_stored(open_chat: OpenChat, key: str) -> None:
    chat = await open_chat()
    with pytest.raises(Refused, match='not offered'):
        await chat.send(QUESTION, model=key)
    assert await chat.store.list_conversations(chat.user_id) == []


# --- where a reply goes --------------------------------------------------------------------------------------

async def test_a_reply_goes_to_its_models_endpoint_by_the_name_it_knows(open_chat: OpenChat, llmock: LLMock,
                                                                       llmock_b: LLMock) -> None:
    chat = await open_chat()
    llmock_b.reply(ANSWER)
    sent = await chat.send(QUESTION, model='b/gpt-4o')
    reply = await chat.wait(sent.conversation_id)
    assert (reply.content, reply.status, reply.model) == (ANSWER, Status.COMPLETE, 'b/gpt-4o')
    [request] = chat_requests(llmock_b)
    assert (request['method'], request['body']['model'], request['body']['stream']) == ('POST', 'gpt-4o', True)
    assert chat_requests(llmock) == [], 'nothing reaches the other endpoint'
    assert (await chat.conversation(sent.conversation_id)).model == 'b/gpt-4o'


async def test_regenerate_with_another_model_leaves_the_conversations_model(open_chat: OpenChat, llmock: LLMock,
                                                                            llmock_b: LLMock) -> None:
    chat = await open_chat()
    llmock_b.reply(ANSWER)
    sent = await chat.send(QUESTION, model='b/gpt-4o')
    await chat.wait(sent.conversation_id)

    llmock.reply('Lisbon.')
    again = await chat.engine.regenerate(chat.user_id, sent.conversation_id, sent.reply.id, model='a/gpt-4o-mini')
    other = await chat.wait(sent.conversation_id)
    assert (other.id, other.content, other.model) == (again.id, 'Lisbon.', 'a/gpt-4o-mini')
    assert [r['body']['model'] for r in chat_requests(llmock)] == ['gpt-4o-mini']
    conversation = await chat.conversation(sent.conversation_id)
    assert conversation.model == 'b/gpt-4o', 'a regenerate does not change the model of the next replies'

    llmock_b.reply('Take the train.')
    await chat.send('How do I get there?', sent.conversation_id, model=conversation.model)  # as the page does
    reply = await chat.wait(sent.conversation_id)
    assert (reply.content, reply.model) == ('Take the train.', 'b/gpt-4o')
    assert len(chat_requests(llmock)) == 1 and len(chat_requests(llmock_b)) == 2
    branch = await chat.store.list_messages(chat.user_id, sent.conversation_id)
    assert [m.content for m in branch] == [QUESTION, 'Lisbon.', 'How do I get there?', 'Take the train.']


async def test_a_conversations_own_system_prompt_is_the_first_message(open_chat: OpenChat, llmock: LLMock) -> None:
    chat = await open_chat()
    llmock.reply('Arr.')
    own = await chat.send('Ahoy?', system_prompt='You are a pirate.')
    await chat.wait(own.conversation_id)
    llmock.reply('Arr arr.')
    await chat.send('Where to?', own.conversation_id)
    await chat.wait(own.conversation_id)
    assert await chat.store.set_system_prompt(chat.user_id, own.conversation_id, 'Answer in French.')
    llmock.reply('Paris.')
    await chat.send('Really?', own.conversation_id)
    await chat.wait(own.conversation_id)
    llmock.reply('Hello.')
    app_default = await chat.send('Hello?')
    await chat.wait(app_default.conversation_id)
    llmock.reply('Hi.')
    none = await chat.send('Hi?', system_prompt='')
    await chat.wait(none.conversation_id)

    prompts = [r['body']['messages'] for r in chat_requests(llmock)]
    assert [p[0] for p in prompts] == [
        {'role': 'system', 'content': 'You are a pirate.'}, {'role': 'system', 'content': 'You are a pirate.'},
        {'role': 'system', 'content': 'Answer in French.'}, {'role': 'system', 'content': 'Be brief.'},
        {'role': 'user', 'content': 'Hi?'}]
    assert [m['role'] for m in prompts[1]] == ['system', 'user', 'assistant', 'user']


# --- what a reply cost -------------------------------------------------------------------------------------

async def test_tokens_are_what_the_endpoint_reported_and_cost_follows_the_prices(open_chat: OpenChat,
                                                                                 llmock_b: LLMock) -> None:
    chat = await open_chat()
    llmock_b.reply(LONG_ANSWER)
    sent = await chat.send(QUESTION, model='b/gpt-4o')
    reply = await chat.wait(sent.conversation_id)
    [request] = chat_requests(llmock_b)
    prompt, completion = reported_tokens(request, LONG_ANSWER)
    assert (reply.prompt_tokens, reply.completion_tokens, reply.usage_estimated) == (prompt, completion, False)
    assert reply.cost == pytest.approx(cost('b/gpt-4o', prompt, completion))
    assert reply.first_token_ms is not None and reply.first_token_ms >= 0
    assert reply.tokens_per_second is not None and reply.tokens_per_second > 0
    [finished] = [e for e in chat.events if isinstance(e, ReplyFinished)]
    assert finished.usage is not None and (finished.usage.completion_tokens, finished.usage.cost) == \
        (completion, reply.cost), 'the views are told what was stored'

    llmock_b.reply(ANSWER)
    unpriced = await chat.send(QUESTION, model='b/house-model')
    reply = await chat.wait(unpriced.conversation_id)
    assert reply.completion_tokens == reported_tokens(chat_requests(llmock_b)[-1], ANSWER)[1]
    assert reply.cost is None, 'no prices configured: no cost'


async def test_without_reported_usage_the_tokens_are_estimated_and_marked(open_chat: OpenChat) -> None:
    """The demo model reports no usage, as some servers do; llmock always reports it when asked."""
    chat = await open_chat(demo=True, titles=True)
    demo = chat.catalog.chat_model('demo/offline')
    assert isinstance(demo, DemoChatModel)
    demo.delay = 0  # the same answer, at once
    sent = await chat.send(QUESTION)
    reply = await chat.wait(sent.conversation_id)
    assert (reply.status, reply.model, reply.usage_estimated, reply.cost) == \
        (Status.COMPLETE, 'demo/offline', True, None)
    assert reply.completion_tokens == estimate_text_tokens(reply.content)
    assert reply.prompt_tokens == estimate_tokens(SystemMessage('Be brief.')) + estimate_tokens(HumanMessage(QUESTION))
    conversation = await chat.titled(sent.conversation_id)
    assert conversation.title == title_from(QUESTION), 'the demo model writes no title'


# --- the conversation's title ------------------------------------------------------------------------------

async def test_a_model_titles_the_conversation_after_its_first_reply(open_chat: OpenChat, llmock: LLMock) -> None:
    chat = await open_chat(titles=True)
    since = utcnow() - timedelta(seconds=5)
    llmock.script({'type': 'reply', 'text': ANSWER}, {'type': 'reply', 'text': '<think>hmm</think>"Paris trip"'})
    sent = await chat.send(QUESTION)
    reply = await chat.wait(sent.conversation_id)
    listed = await chat.conversation(sent.conversation_id)
    changes: list[Event] = []
    chat.store.bus.subscribe(user_topic(chat.user_id), changes.append)

    conversation = await chat.titled(sent.conversation_id)
    assert (conversation.title, conversation.title_source) == ('Paris trip', TitleSource.MODEL)
    assert conversation.updated_at == listed.updated_at, 'the conversation keeps its place in the list'
    assert changes == [ConversationChanged(chat.user_id, sent.conversation_id)], 'the sidebars reload'
    _, titling = chat_requests(llmock)
    assert titling['body']['model'] == 'gpt-4o-mini', "the conversation's model writes it"
    messages = titling['body']['messages']
    assert messages[0] == {'role': 'system', 'content': INSTRUCTIONS}
    assert QUESTION.strip() in messages[1]['content'] and ANSWER in messages[1]['content']

    title_prompt, title_completion = reported_tokens(titling, '<think>hmm</think>"Paris trip"')
    tokens, spent = await chat.store.usage_since(chat.user_id, since)
    assert reply.prompt_tokens is not None and reply.completion_tokens is not None and reply.cost is not None
    assert tokens == reply.prompt_tokens + reply.completion_tokens + title_prompt + title_completion
    assert spent == pytest.approx(reply.cost + cost('a/gpt-4o-mini', title_prompt, title_completion))
    assert await chat.store.usage_since(chat.user_id, utcnow() + timedelta(seconds=5)) == (0, 0.0)

    llmock.reply('Take the train.')
    await chat.send('How do I get there?', sent.conversation_id, model='a/gpt-4o-mini')
    await chat.wait(sent.conversation_id)
    assert (await chat.titled(sent.conversation_id)).title == 'Paris trip'
    assert len(chat_requests(llmock)) == 3, 'only the first reply is followed by a title'


async def test_a_title_model_of_its_own_writes_every_title(open_chat: OpenChat, llmock: LLMock,
                                                          llmock_b: LLMock) -> None:
    chat = await open_chat(titles=True, title_model='b/gpt-4o')
    since = utcnow() - timedelta(seconds=5)
    llmock.reply(ANSWER)
    llmock_b.reply('Title: April in Paris.')
    sent = await chat.send(QUESTION)
    reply = await chat.wait(sent.conversation_id)
    conversation = await chat.titled(sent.conversation_id)
    assert (conversation.title, conversation.title_source) == ('April in Paris', TitleSource.MODEL)
    assert len(chat_requests(llmock)) == 1
    [titling] = chat_requests(llmock_b)
    assert titling['body']['model'] == 'gpt-4o'
    title_prompt, title_completion = reported_tokens(titling, 'Title: April in Paris.')
    assert reply.cost is not None
    _, spent = await chat.store.usage_since(chat.user_id, since)
    assert spent == pytest.approx(reply.cost + cost('b/gpt-4o', title_prompt, title_completion))


async def test_a_conversation_renamed_while_its_first_reply_streams_keeps_its_name(open_chat: OpenChat,
                                                                                   llmock: LLMock) -> None:
    chat = await open_chat(titles=True)
    llmock.script({'type': 'reply', 'text': LONG_ANSWER}, {'type': 'reply', 'text': 'Paris trip'})
    sent = await chat.send(QUESTION)
    await chat.first_delta(sent.conversation_id)
    assert await chat.store.rename_conversation(chat.user_id, sent.conversation_id, 'My own name') is not None
    reply = await chat.wait(sent.conversation_id)
    assert reply.status == Status.COMPLETE
    conversation = await chat.titled(sent.conversation_id)
    assert (conversation.title, conversation.title_source) == ('My own name', TitleSource.PERSON)
    assert len(chat_requests(llmock)) == 1, 'no title is asked for (and paid) that would not be used'


@pytest.mark.parametrize('title_answer', [
    pytest.param({'type': 'fail', 'status': 500}, id='server-error'),
    pytest.param({'type': 'fail', 'status': 429, 'retry_after': 0.1}, id='rate-limited'),
    pytest.param({'type': 'reply', 'text': '<think>The person wants a trip, so'}, id='no-title-in-the-answer'),
])
async def test_when_no_title_comes_the_first_line_stays_for_good(open_chat: OpenChat, llmock: LLMock,
                                                                  title_answer: dict) -> None:
    chat = await open_chat(titles=True)
    since = utcnow() - timedelta(seconds=5)
    llmock.reply(LONG_ANSWER)
    sent = await chat.send(QUESTION)
    await chat.first_delta(sent.conversation_id)
    llmock.script(title_answer)  # now: a failure queued earlier would have answered the reply's request
    reply = await chat.wait(sent.conversation_id)
    changes: list[Event] = []
    chat.store.bus.subscribe(user_topic(chat.user_id), changes.append)

    conversation = await chat.titled(sent.conversation_id)
    assert (conversation.title, conversation.title_source) == (title_from(QUESTION), TitleSource.FINAL)
    assert len(chat_requests(llmock)) == 2 and llmock.pending() == []
    assert changes == [], 'nothing changed that a sidebar shows'
    if title_answer['type'] == 'fail':
        assert reply.prompt_tokens is not None and reply.completion_tokens is not None
        tokens, _ = await chat.store.usage_since(chat.user_id, since)
        assert tokens == reply.prompt_tokens + reply.completion_tokens, 'a failed title call costs nothing'

    llmock.reply('Take the train.')
    await chat.send('How do I get there?', sent.conversation_id, model='a/gpt-4o-mini')
    await chat.wait(sent.conversation_id)
    await chat.titled(sent.conversation_id)
    assert len(chat_requests(llmock)) == 3, 'the title is not tried again'


# --- presets -----------------------------------------------------------------------------------------------

TEAM = [PresetConfig(name='Code reviewer', model='a/gpt-4o', system_prompt='Review code.',
                     starters=['Review this function:']),
        PresetConfig(name='Plain')]


@pytest.fixture
async def presets(store: ConversationStore) -> Presets:
    return Presets(store.db, TEAM)


async def test_the_teams_presets_come_first_then_the_persons_own(store: ConversationStore, presets: Presets) -> None:
    alice = (await store.upsert_user('test', 'alice')).id
    first = await presets.save(alice, None, name='  Travel   agent ', model='b/gpt-4o', system_prompt='Plan trips.',
                               starters=['  Plan   a weekend in Paris ', '', '   '])
    second = await presets.save(alice, None, name='Default', model='', system_prompt=None, starters=[])
    listed = await presets.for_user(alice)
    assert [(p.id, p.name, p.team) for p in listed] == [
        ('team-0', 'Code reviewer', True), ('team-1', 'Plain', True),
        (first.id, 'Travel agent', False), (second.id, 'Default', False)]
    assert (listed[0].model, listed[0].system_prompt, listed[0].starters) == \
        ('a/gpt-4o', 'Review code.', ('Review this function:',))
    assert (listed[1].model, listed[1].system_prompt, listed[1].starters) == ('', None, ())
    assert listed[2] == first and (first.model, first.system_prompt, first.starters) == \
        ('b/gpt-4o', 'Plan trips.', ('Plan a weekend in Paris',))
    assert (second.model, second.system_prompt) == ('', None), "the default model and the app's prompt"

    changed = await presets.save(alice, first.id, name='Travel agent', model='a/gpt-4o-mini', system_prompt='',
                                 starters=['Where in May?'])
    assert changed.id == first.id
    assert [(p.model, p.system_prompt, p.starters) for p in (await presets.for_user(alice))[2:]] == [
        ('a/gpt-4o-mini', '', ('Where in May?',)), ('', None, ())]


async def test_a_persons_presets_are_theirs_alone(store: ConversationStore, presets: Presets) -> None:
    alice = (await store.upsert_user('test', 'alice')).id
    bob = (await store.upsert_user('test', 'bob')).id
    own = await presets.save(alice, None, name='Mine', model='', system_prompt='Secret.', starters=[])
    assert [p.name for p in await presets.for_user(bob)] == ['Code reviewer', 'Plain']
    with pytest.raises(PresetError, match='does not exist'):
        await presets.save(bob, own.id, name='Taken', model='', system_prompt=None, starters=[])
    assert await presets.delete(bob, own.id) is False
    assert [(p.name, p.system_prompt) for p in await presets.for_user(alice)][2:] == [('Mine', 'Secret.')]
    assert await presets.delete(alice, own.id) is True
    assert await presets.delete(alice, own.id) is False
    assert [p.name for p in await presets.for_user(alice)] == ['Code reviewer', 'Plain']


async def test_the_teams_presets_cannot_be_changed_or_deleted(store: ConversationStore, presets: Presets) -> None:
    alice = (await store.upsert_user('test', 'alice')).id
    with pytest.raises(PresetError, match='does not exist'):
        await presets.save(alice, 'team-0', name='Mine now', model='', system_prompt=None, starters=[])
    assert await presets.delete(alice, 'team-0') is False
    assert [(p.id, p.name) for p in await presets.for_user(alice)] == [('team-0', 'Code reviewer'),
                                                                        ('team-1', 'Plain')]


@pytest.mark.parametrize(('fields', 'reason'), [
    ({'name': ' \n '}, 'Give the preset a name.'),
    ({'name': 'n' * 101}, 'The name has 101 characters; the limit is 100.'),
    ({'starters': [f'Starter {n}' for n in range(9)]}, 'A preset has at most 8 starters.'),
    ({'starters': ['s' * 501]}, 'A starter has at most 500 characters.'),
    ({'system_prompt': 'p' * 20_001}, 'The system prompt has 20,001 characters; the limit is 20,000.'),
])
async def test_a_preset_that_cannot_be_saved_says_why(store: ConversationStore, presets: Presets, fields: dict,
                                                     reason: str) -> None:
    alice = (await store.upsert_user('test', 'alice')).id
    preset = {'name': 'Fine', 'model': '', 'system_prompt': None, 'starters': []} | fields
    with pytest.raises(PresetError) as refused:
        await presets.save(alice, None, **preset)
    assert str(refused.value) == reason
    assert len(await presets.for_user(alice)) == len(TEAM), 'nothing was stored'
