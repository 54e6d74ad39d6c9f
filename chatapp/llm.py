"""The LLM layer: which chat model answers, how a prompt is built from stored history, and what an
endpoint's failure means in plain words. Everything goes through LangChain's chat-model interface, so
the offline demo model and a real endpoint share one streaming path."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx
import openai
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI

from chatapp.models import Message, Role, Status
from chatapp.settings import ConfigError, Settings

DEMO_MODEL_NAME = 'demo (offline)'


def create_chat_model(settings: Settings) -> BaseChatModel:
    """ChatOpenAI for any OpenAI-compatible endpoint, or the demo model when none is configured.

    Raises ConfigError when the client cannot be built, so that the app stops before it serves."""
    if settings.uses_demo_model:
        return DemoChatModel()
    try:
        return ChatOpenAI(
            model=settings.model,
            api_key=settings.openai_api_key or 'not-needed',  # local servers (Ollama, llama.cpp) take any key
            base_url=settings.openai_base_url or None,
            streaming=True,
            stream_usage=True,
            max_retries=0,  # the streaming engine retries itself, so that the person sees it waiting
            stream_chunk_timeout=None,  # the engine has its own stall timer; this one costs a task per chunk
            timeout=client_timeout(settings),
            # a client of its own: LangChain shares one per process between models with a hashable timeout,
            # and a pool opened on one event loop fails on the next ('Event loop is closed')
            http_async_client=openai.DefaultAsyncHttpxClient(timeout=client_timeout(settings)),
        )
    except Exception as error:
        reason = ' '.join(str(error).split()) or type(error).__name__
        raise ConfigError(f'OPENAI_BASE_URL/CHATAPP_MODEL: cannot build the model client ({reason})') from None


CONNECT_TIMEOUT_SECONDS = 10.0


def client_timeout(settings: Settings) -> tuple[float, float, float, float]:
    """(connect, read, write, pool) in plain seconds: the one form that every HTTP library `openai` has been
    built on accepts (httpx, and httpx2 since openai 3.6x, which refuses the other library's Timeout object)."""
    read = settings.llm_timeout
    return CONNECT_TIMEOUT_SECONDS, read, read, read


def model_label(settings: Settings) -> str:
    return DEMO_MODEL_NAME if settings.uses_demo_model else settings.model


ENDPOINT_PROBE_SECONDS = 5.0


async def endpoint_reachable(chat_model: BaseChatModel) -> bool | None:
    """Whether the model endpoint answers at all (None for the demo model): any HTTP answer counts, since
    some endpoints serve no model list; only a connection that fails or hangs means unreachable."""
    if not isinstance(chat_model, ChatOpenAI):
        return None
    try:
        async with asyncio.timeout(ENDPOINT_PROBE_SECONDS):
            await chat_model.root_async_client.models.list()
    except openai.APIStatusError:
        return True
    except (TimeoutError, *TRANSPORT_ERRORS):
        return False
    return True


def build_prompt(system_prompt: str, history: Sequence[Message], max_tokens: int = 0) -> list[BaseMessage]:
    """The prompt is the system prompt plus the stored conversation; a browser never supplies history.

    A conversation longer than `max_tokens` (estimated) loses its oldest turns; the system prompt and
    the newest question always stay.
    """
    turns: list[BaseMessage] = []
    for message in history:
        if message.role == Role.USER:
            turns.append(HumanMessage(message.content))
        elif message.content and message.status in (Status.COMPLETE, Status.STOPPED, Status.INTERRUPTED):
            turns.append(AIMessage(message.content))
    system = [SystemMessage(system_prompt)] if system_prompt.strip() else []
    if max_tokens > 0:
        budget = max_tokens - sum(estimate_tokens(m) for m in system)
        kept: list[BaseMessage] = []
        for turn in reversed(turns):
            cost = estimate_tokens(turn)
            if kept and cost > budget:
                break
            kept.append(turn)
            budget -= cost
        turns = kept[::-1]
        while len(turns) > 1 and not isinstance(turns[0], HumanMessage):
            turns = turns[1:]  # start with a question, as chat models expect
    return system + turns


def estimate_tokens(message: BaseMessage) -> int:
    """About four characters a token, plus the per-message framing: close enough to stay under a limit."""
    return len(str(message.content)) // 4 + 4


class DemoChatModel(BaseChatModel):
    """An offline model that streams a short, clearly labelled answer, token by token."""

    delay: float = 0.02

    @property
    def _llm_type(self) -> str:
        return 'chatapp-demo'

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(demo_answer(messages)))])

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        for token in _tokens(demo_answer(messages)):
            await asyncio.sleep(self.delay)
            yield ChatGenerationChunk(message=AIMessageChunk(content=token))
        yield ChatGenerationChunk(message=AIMessageChunk(content='', response_metadata={'finish_reason': 'stop'}))


def demo_answer(messages: Sequence[BaseMessage]) -> str:
    question = next((str(m.content) for m in reversed(messages) if isinstance(m, HumanMessage)), '')
    quoted = '\n'.join(f'> {line}' for line in question.strip().splitlines()[:6]) or '> (empty)'
    turns = sum(isinstance(m, HumanMessage) for m in messages)
    return (
        '**This is the offline demo model.** It does not understand you; it shows how replies stream.\n\n'
        f'You wrote (message {turns} of this conversation):\n\n{quoted}\n\n'
        'To talk to a real model, set these in `.env` and restart:\n\n'
        '| Setting | Example |\n|---|---|\n'
        '| `OPENAI_API_KEY` | `sk-…` |\n'
        '| `OPENAI_BASE_URL` | `http://localhost:11434/v1` (Ollama) |\n'
        '| `CHATAPP_MODEL` | `gpt-4o-mini` |\n\n'
        'Any OpenAI-compatible endpoint works: OpenAI, Azure, vLLM, Ollama, llama.cpp, LiteLLM.'
    )


def _tokens(text: str) -> list[str]:
    """Split text into word-sized pieces that join back to exactly the text."""
    pieces: list[str] = []
    start = 0
    for index in range(1, len(text)):
        if text[index] in ' \n' and text[index - 1] not in ' \n':
            pieces.append(text[start:index])
            start = index
    pieces.append(text[start:])
    return pieces


def _transport_errors() -> tuple[type[BaseException], ...]:
    """A connection that breaks mid-stream raises the HTTP library's own error, unwrapped by `openai`."""
    errors: list[type[BaseException]] = [openai.APIConnectionError, httpx.TransportError]
    with contextlib.suppress(ImportError):
        import httpx2  # under openai 3.6x and later
        errors.append(httpx2.TransportError)
    return tuple(errors)


TRANSPORT_ERRORS = _transport_errors()
RETRY_BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0, 16.0)
MAX_RETRY_WAIT_SECONDS = 60.0


def retry_delay(error: BaseException, attempt: int) -> float | None:
    """Seconds to wait before trying a failed request again, or None when retrying cannot help.

    Only failures before the first token come here: a rate limit (honouring Retry-After), a server
    error, or a connection that could not be made. A bad key, a missing model or a bad request fail at once.
    """
    backoff = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS) - 1)]
    if isinstance(error, openai.RateLimitError):
        asked = _retry_after(error.response.headers) if error.response is not None else None
        wait = backoff if asked is None else asked
        return wait if wait <= MAX_RETRY_WAIT_SECONDS else None
    if isinstance(error, openai.APIStatusError):
        return backoff if error.status_code >= 500 else None
    if isinstance(error, TRANSPORT_ERRORS):
        return backoff
    return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, scale in (('retry-after-ms', 0.001), ('retry-after', 1.0)):
        try:
            return max(0.0, float(headers[name]) * scale)
        except (KeyError, ValueError):
            continue
    return None


def describe_wait(error: BaseException, seconds: float) -> str:
    cause = ('The model endpoint is rate limiting requests' if isinstance(error, openai.RateLimitError)
             else 'The model endpoint did not answer properly')
    return f'{cause}; trying again in {seconds:.0f} s…'


class StreamTruncated(Exception):
    """The endpoint ended the stream without saying the reply was finished."""


def describe_failure(error: BaseException, *, settings: Settings, timeout: float) -> str:
    """One short sentence naming the cause, for the person reading the chat (never a stack trace)."""
    endpoint = settings.openai_base_url or 'the OpenAI API'
    if isinstance(error, TimeoutError | openai.APITimeoutError):
        return f'The model sent nothing for {timeout:g} seconds, so the reply was stopped.'
    if isinstance(error, StreamTruncated):
        return 'The model\'s stream ended before the reply was finished.'
    if isinstance(error, openai.AuthenticationError):
        return 'The model endpoint rejected the API key (HTTP 401). Check OPENAI_API_KEY.'
    if isinstance(error, openai.PermissionDeniedError):
        return 'The API key is not allowed to use this model (HTTP 403).'
    if isinstance(error, openai.NotFoundError):
        return f'The model "{settings.model}" was not found at {endpoint} (HTTP 404). Check CHATAPP_MODEL.'
    if isinstance(error, openai.RateLimitError):
        return 'The model endpoint is rate limiting requests (HTTP 429). Try again in a moment.'
    if isinstance(error, openai.APIStatusError):
        return f'The model endpoint failed (HTTP {error.status_code}).'
    if isinstance(error, TRANSPORT_ERRORS):
        return f'The connection to the model endpoint ({endpoint}) failed or broke off.'
    if isinstance(error, json.JSONDecodeError | ValueError):
        return 'The model endpoint sent a malformed chunk, so the reply was cut short.'
    return f'The reply failed unexpectedly ({type(error).__name__}).'
