"""The offline demo model: the app answers out of the box, with no endpoint configured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

DEMO_MODEL_NAME = 'demo (offline)'


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
    question = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), HumanMessage(''))
    parts = [question.content] if isinstance(question.content, str) else question.content
    text = ''.join(p if isinstance(p, str) else p.get('text', '') for p in parts)
    images = sum(isinstance(p, dict) and p.get('type') == 'image_url' for p in parts)
    quoted = '\n'.join(f'> {line}' for line in text.strip().splitlines()[:6]) or '> (empty)'
    turns = sum(isinstance(m, HumanMessage) for m in messages)
    seen = f' with {images} image{"s" if images > 1 else ""}' if images else ''
    return (
        '**This is the offline demo model.** It does not understand you; it shows how replies stream.\n\n'
        f'You wrote (message {turns} of this conversation{seen}):\n\n{quoted}\n\n'
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
