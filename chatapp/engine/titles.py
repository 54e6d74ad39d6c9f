"""A conversation's title, written by a model once its first reply is complete: short, in the conversation's own
language, never over a title the person gave it. When the call fails, the first-line title stays."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from chatapp.llm.catalog import ModelCatalog, ModelInfo
from chatapp.llm.config import DEMO_ENDPOINT
from chatapp.models import Role, TitleSource, UsageRecord
from chatapp.settings import Settings
from chatapp.store import ConversationStore

log = logging.getLogger(__name__)

EXCERPT_CHARS = 2000  # of the conversation, shown to the title model
TITLE_CHARS = 80
TITLE_TIMEOUT_SECONDS = 30.0
INSTRUCTIONS = (
    'Write a title of three to six words for the conversation below. Write it in the language the person '
    'writes in. Answer with the title alone: no quotes, no full stop, no explanation.')
_THINKING = re.compile(r'<(think|thinking|reasoning)>.*?(</\1>|$)', re.DOTALL | re.IGNORECASE)
_LABEL = re.compile(r'^\s*(title|titel|titre|título|标题|タイトル)\s*[:：]\s*', re.IGNORECASE)
_WRAPPING = '"\'“”‘’„«»「」『』*_`#'


def title_prompt(question: str, answer: str) -> list[BaseMessage]:
    excerpt = f'Person: {question.strip()}\n\nAssistant: {answer.strip()}'[:EXCERPT_CHARS]
    return [SystemMessage(INSTRUCTIONS), HumanMessage(excerpt)]


def clean_title(text: str) -> str | None:
    """The title in a model's answer: without reasoning, labels, quotes or a full stop; None if there is none."""
    text = _THINKING.sub('', text)
    line = next((part.strip() for part in text.splitlines() if part.strip()), '')
    line = _LABEL.sub('', line).strip().rstrip('.。').strip(_WRAPPING).strip().rstrip('.。').strip()  # "Title".
    line = ' '.join(line.split())
    if not line:
        return None
    if len(line) > TITLE_CHARS:
        line = (line[:TITLE_CHARS].rsplit(' ', 1)[0] or line[:TITLE_CHARS]).rstrip(' ,;:') + '…'
    return line


class TitleWriter:
    """Titles conversations in the background; the reply that asked for it has already ended."""

    def __init__(self, store: ConversationStore, catalog: ModelCatalog, settings: Settings) -> None:
        self.store = store
        self.catalog = catalog
        self.settings = settings
        self._tasks: dict[str, asyncio.Task] = {}  # by conversation: one title call each at a time

    def write(self, user_id: str, conversation_id: str, reply_model: ModelInfo, reply_id: int) -> None:
        model = self._title_model(reply_model)
        if model is None or conversation_id in self._tasks:
            return
        task = asyncio.create_task(self._write(user_id, conversation_id, model, reply_id), name='conversation-title')
        self._tasks[conversation_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(conversation_id, None))

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)

    def _title_model(self, reply_model: ModelInfo) -> ModelInfo | None:
        """The task model, if titles are on and a real model writes them (the demo model cannot)."""
        chosen = self.settings.title_model
        if chosen == 'off':
            return None
        model = self.catalog.get(chosen) if chosen else reply_model
        if model is None or model.endpoint == DEMO_ENDPOINT or not model.available:
            return None
        return model

    async def _write(self, user_id: str, conversation_id: str, model: ModelInfo, reply_id: int) -> None:
        source = await self.store.read_prompt(user_id, conversation_id, reply_id)
        if source is None:
            return
        conversation, path = source.conversation, source.messages
        if conversation.title_source != TitleSource.FIRST_LINE:  # renamed meanwhile: no call it would not use
            return
        question = next((m.content for m in path if m.role == Role.USER), '')
        answer = path[-1].content if path and path[-1].role == Role.ASSISTANT else ''
        title = None
        try:
            async with asyncio.timeout(TITLE_TIMEOUT_SECONDS):
                result = await self.catalog.chat_model(model.key).ainvoke(title_prompt(question, answer))
            title = clean_title(str(result.content))
            await self._count(user_id, conversation_id, model, getattr(result, 'usage_metadata', None))
        except Exception as error:  # the first-line title stays
            log.warning('titling conversation %s with %s failed: %r', conversation_id, model.key, error)
        try:
            await self.store.set_model_title(user_id, conversation_id, title)
        except Exception:
            log.exception('saving the title of conversation %s failed', conversation_id)

    async def _count(self, user_id: str, conversation_id: str, model: ModelInfo, usage: dict | None) -> None:
        """The title's tokens are the person's usage too."""
        if not usage:
            return
        prompt, completion = usage.get('input_tokens') or 0, usage.get('output_tokens') or 0
        await self.store.record_usage(UsageRecord(
            user_id=user_id, conversation_id=conversation_id, purpose='title', model=model.key,
            prompt_tokens=prompt, completion_tokens=completion, cost=model.cost(prompt, completion)))
