"""The LLM layer: which chat model answers, how a prompt is built from stored history, and what an
endpoint's failure means in plain words. Everything goes through LangChain's chat-model interface, so
the offline demo model and a real endpoint share one streaming path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import openai
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI

from chatapp.models import Message, Role, Status
from chatapp.settings import Settings

DEMO_MODEL_NAME = 'demo (offline)'


def create_chat_model(settings: Settings) -> BaseChatModel:
    """ChatOpenAI for any OpenAI-compatible endpoint, or the demo model when none is configured."""
    if settings.uses_demo_model:
        return DemoChatModel()
    return ChatOpenAI(
        model=settings.model,
        api_key=settings.openai_api_key or 'not-needed',  # local servers (Ollama, llama.cpp) take any key
        base_url=settings.openai_base_url or None,
        streaming=True,
        stream_usage=True,
        max_retries=settings.llm_max_retries,
        timeout=httpx.Timeout(settings.llm_timeout, connect=10.0),
    )


def model_label(settings: Settings) -> str:
    return DEMO_MODEL_NAME if settings.uses_demo_model else settings.model


def build_prompt(system_prompt: str, history: Sequence[Message]) -> list[BaseMessage]:
    """The prompt is the system prompt plus the stored conversation; a browser never supplies history."""
    prompt: list[BaseMessage] = [SystemMessage(system_prompt)] if system_prompt.strip() else []
    for message in history:
        if message.role == Role.USER:
            prompt.append(HumanMessage(message.content))
        elif message.content and message.status in (Status.COMPLETE, Status.STOPPED, Status.INTERRUPTED):
            prompt.append(AIMessage(message.content))
    return prompt


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
    if isinstance(error, openai.APIConnectionError | httpx.TransportError):
        return f'The connection to the model endpoint ({endpoint}) failed or broke off.'
    if isinstance(error, json.JSONDecodeError | ValueError):
        return 'The model endpoint sent a malformed chunk, so the reply was cut short.'
    return f'The reply failed unexpectedly ({type(error).__name__}).'
