"""Finding text in messages through the search index (migration 0008): SQLite's FTS5 table with the trigram
tokenizer, PostgreSQL's pg_trgm index. Both find a substring in any case, also in Chinese and Japanese, which
have no spaces between words, and neither holds a reply while it is being written.

Who may read what stays the store's to decide: these are the parts of its search query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import BindParameter, ColumnElement, bindparam, column, func, table, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from chatapp.models import Conversation, Message, Status

INDEX_OBJECTS = ('message_fts', 'ix_message_content_trgm')  # SQL of their dialect, not models (and FTS5's tables)
SHORTEST_INDEXED = 3  # a trigram index finds text of three characters or more; shorter text is looked for row by row
FEW_MATCHES = 2_000  # up to this many matching messages the index finds them; beyond, a person's newest
# conversations are looked through one by one (the first ones hold the text)
SNIPPET_CHARS = 90

_FTS = table('message_fts', column('rowid'), column('content'))
# literal, not a parameter: PostgreSQL's planner uses the partial index only where the query says what it says
_INDEXED = text(f"message.status != '{Status.STREAMING}'")

Snippet = tuple[str, str, str]  # around a match: the text before it, the match as written, the text after


@dataclass(frozen=True)
class SearchHit:
    conversation: Conversation
    message_id: int | None  # the newest message holding the text; None: only the title does
    snippet: Snippet | None


def like_pattern(query: str) -> str:
    """A LIKE pattern for `query` anywhere, in any case."""
    return f'%{escape_like(query.lower())}%'


def escape_like(text: str) -> str:
    """`text` as it is in a LIKE pattern: its % and _ are letters (escaped with a backslash)."""
    return text.replace('\\', '\\\\').replace('%', '\\%').replace('_', '\\_')


def holds(field: ColumnElement[str], pattern: str) -> ColumnElement[bool]:
    """`field` holds the text of `pattern`, in any case, looked at row by row."""
    return func.lower(field).like(inline(pattern), escape='\\')


async def messages_hold(session: AsyncSession, dialect: str, query: str, pattern: str) -> ColumnElement[bool]:
    """A condition on a conversation: it has a message (not one being written) that holds `query`. Where few
    messages do, the index finds them; where many do, the person's newest conversations are looked through first,
    and the first of them hold it."""
    indexed = _indexed_matches(dialect, query, pattern)
    if indexed is not None:
        found = (await session.exec(indexed.limit(inline(FEW_MATCHES)))).all()
        if len(found) < FEW_MATCHES:  # read first: as a subquery, PostgreSQL's planner may pass the index by
            return col(Conversation.id).in_(set(found))
    # a message looked up for each conversation in turn (a scalar subquery, which PostgreSQL cannot turn into one
    # hashed scan of every message, as it does with EXISTS under an OR), so the newest few end the search
    first = select(Message.id).where(col(Message.conversation_id) == col(Conversation.id), _INDEXED,
                                     holds(col(Message.content), pattern)).limit(1).scalar_subquery()
    return first.is_not(None)


async def newest_holding(session: AsyncSession, conversation_ids: list[str], query: str,
                         pattern: str) -> dict[str, tuple[int, Snippet | None]]:
    """For each conversation, its newest message that holds `query`, and a snippet around the match."""
    if not conversation_ids:
        return {}
    rows = await session.exec(select(Message.id, Message.conversation_id, Message.content).where(
        col(Message.conversation_id).in_(conversation_ids), _INDEXED, holds(col(Message.content), pattern))
        .order_by(col(Message.id).desc()))
    newest: dict[str, tuple[int, Snippet | None]] = {}
    for message_id, conversation_id, content in rows.all():
        if conversation_id not in newest:
            newest[conversation_id] = (message_id, snippet(content, query))
    return newest


def snippet(content: str, query: str) -> Snippet | None:
    """Where `query` first occurs in `content` (in any case), on one line."""
    found = re.search(re.escape(query), content, re.IGNORECASE)
    if found is None:
        return None
    start, end = found.span()
    lead = SNIPPET_CHARS // 3
    before = ('…' if start > lead else '') + _one_line(content[max(0, start - lead):start]).lstrip()
    after = _one_line(content[end:end + SNIPPET_CHARS]) + ('…' if end + SNIPPET_CHARS < len(content) else '')
    return before, _one_line(found.group()), after


def _indexed_matches(dialect: str, query: str, pattern: str) -> SelectOfScalar[str] | None:
    """The conversations of the messages that hold `query` (once per message), through the index; None where the
    index cannot find it."""
    if len(query) < SHORTEST_INDEXED:
        return None
    if dialect == 'sqlite':
        phrase = '"' + query.replace('"', '""') + '"'  # the text as it is, none of FTS5's query syntax
        # a join, not IN: SQLite would gather every match of a common word before the limit
        return select(Message.conversation_id).join(_FTS, _FTS.c.rowid == col(Message.id)) \
            .where(_FTS.c.content.match(phrase))
    return select(Message.conversation_id).where(col(Message.content).ilike(inline(pattern)), _INDEXED)


def inline(value: str | int) -> BindParameter:
    """A value written into the statement, not passed as a parameter: after five runs of a prepared statement
    PostgreSQL plans it for any value at all, and for any pattern and limit that plan reads every message."""
    return bindparam(None, value, literal_execute=True)


def _one_line(text: str) -> str:
    return re.sub(r'\s+', ' ', text)
