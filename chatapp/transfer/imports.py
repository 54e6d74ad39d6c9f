"""A file into the store: every conversation in it made the importer's, each in one transaction of its own.

The file is surveyed first (reading.py): one that is not an export, or is damaged or too big, is refused whole with
what is wrong, and nothing is imported. Then its conversations are read, checked and stored one by one: one that
fails a check, or that the database refuses, is reported with the reason and leaves nothing behind; one the person
has already (imported before) is skipped. Reading, checking and making the rows run in a worker thread a few
conversations at a time: the event loop never parses a big file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy.exc import SQLAlchemyError

from chatapp.models import Conversation, Message, Role, TitleSource
from chatapp.store import ConversationStore
from chatapp.transfer import chatgpt, native
from chatapp.transfer.drafts import Draft, Invalid
from chatapp.transfer.reading import BadFile, Survey, conversations, survey

log = logging.getLogger(__name__)

BATCH = 10  # conversations read and checked in the worker thread at a time
MAX_REASONS = 50  # failures reported one by one; the rest are counted
Progress = Callable[[int, int], Awaitable[None] | None]  # (done, total)
Rows = tuple[Conversation, list[Message], list[int | None], int | None]  # as the store imports a conversation

__all__ = ['BadFile', 'ImportReport', 'import_file']


@dataclass
class ImportReport:
    total: int = 0
    imported: list[tuple[str, str]] = field(default_factory=list)  # the new conversations: (id, title)
    skipped: int = 0  # the person had them already
    failed: list[tuple[str, str]] = field(default_factory=list)  # (which, why), the first MAX_REASONS
    more_failed: int = 0

    @property
    def failures(self) -> int:
        return len(self.failed) + self.more_failed

    def fail(self, which: str, why: str) -> None:
        if len(self.failed) < MAX_REASONS:
            self.failed.append((which, why))
        else:
            self.more_failed += 1


async def import_file(store: ConversationStore, user_id: str, file: IO[bytes], max_bytes: int,
                      progress: Progress | None = None) -> ImportReport:
    """Import every conversation of `file` (seekable, read in a worker thread); raises BadFile, having imported
    nothing, when the file as a whole cannot be."""
    found: Survey = await asyncio.to_thread(survey, file, max_bytes)
    report = ImportReport(total=found.total)
    await _tell(progress, 0, found.total)
    parsed = conversations(file, found)
    position = 0
    while batch := await asyncio.to_thread(_read_batch, parsed, position, user_id):
        for number, rows_or_reason, which in batch:
            if isinstance(rows_or_reason, str):
                report.fail(which, rows_or_reason)
            else:
                await _store(store, user_id, rows_or_reason, which, report)
            position = number
            await _tell(progress, number, found.total)
    return report


def _read_batch(parsed: Iterator[Any], done: int, user_id: str) -> list[tuple[int, Rows | str, str]]:
    """The next few conversations, each as the store's rows or why it cannot be, with its number and how to
    name it."""
    batch: list[tuple[int, Rows | str, str]] = []
    for number, data in enumerate(parsed, done + 1):
        try:
            draft = native.draft(data) if native.is_ours(data) else chatgpt.draft(data)
            batch.append((number, rows(draft, user_id), draft.title))
        except Invalid as reason:
            batch.append((number, str(reason).capitalize() + '.', _name(data, number)))
        except Exception:  # a shape no check foresaw: this conversation fails, not the rest of the file
            log.exception('reading conversation %d of an import failed', number)
            batch.append((number, 'It could not be read.', _name(data, number)))
        if len(batch) == BATCH:
            break
    return batch


def _name(data: Any, number: int) -> str:
    """How to name a conversation that could not be read: its title, if it has one."""
    title = data.get('title') if isinstance(data, dict) else None
    return f'“{title[:80]}”' if isinstance(title, str) and title.strip() else f'Conversation {number}'


async def _store(store: ConversationStore, user_id: str, prepared: Rows, which: str, report: ImportReport) -> None:
    conversation, messages, parents, leaf = prepared
    try:
        stored = await store.import_conversation(user_id, conversation, messages, parents, leaf)
    except SQLAlchemyError:
        log.exception('importing %s failed', conversation.imported_from)
        report.fail(which, 'The database refused it.')
        return
    if stored is None:
        report.skipped += 1
    else:
        report.imported.append((stored.id, stored.title))


def rows(draft: Draft, user_id: str) -> Rows:
    """The draft as the store's rows: the conversation, its messages in tree order, and by position each one's
    parent and the last message shown. Questions are the importer's own; nothing is rendered yet (html None)."""
    conversation = Conversation(user_id=user_id, title=draft.title, title_source=TitleSource.FINAL,
                                model=draft.model, system_prompt=draft.system_prompt, imported_from=draft.source,
                                created_at=draft.created_at, updated_at=draft.updated_at)
    position = {message.key: n for n, message in enumerate(draft.messages)}
    messages = [Message(conversation_id=conversation.id, role=m.role, content=m.content, status=m.status,
                        error=m.error, model=m.model, prompt_tokens=m.prompt_tokens,
                        completion_tokens=m.completion_tokens, usage_estimated=m.usage_estimated,
                        first_token_ms=m.first_token_ms, tokens_per_second=m.tokens_per_second, cost=m.cost,
                        author_id=user_id if m.role == Role.USER else None,
                        created_at=m.created_at, updated_at=m.updated_at) for m in draft.messages]
    parents = [position[m.parent] if m.parent is not None else None for m in draft.messages]
    return conversation, messages, parents, position.get(draft.leaf) if draft.leaf is not None else None


async def _tell(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        result = progress(done, total)
        if result is not None:
            await result
