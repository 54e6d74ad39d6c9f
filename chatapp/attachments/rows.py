"""The attachment rows of messages: written with a question, read with it, copied with it, and their bytes dropped
when nothing attaches them any more. Nothing here decides who may read what: the store asks first."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence

from sqlalchemy import case, delete, exists, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatapp.attachments.content import IMAGE, NewAttachment, PromptFile, ShownFile, cut_note
from chatapp.models import Attachment, Blob, Message, utcnow

_BLOB = Blob.__table__


async def attach(session: AsyncSession, message: Message, attachments: Sequence[NewAttachment]) -> list[Attachment]:
    """Store the files of a question (flushed, so it has its id); the bytes of each once, however often attached."""
    assert message.id is not None
    blobs = {a.sha256: a.data for a in attachments}
    for a in attachments:
        if a.thumbnail:
            blobs[_digest(a.thumbnail)] = a.thumbnail
    await _store_blobs(session, blobs)
    rows = [Attachment(message_id=message.id, conversation_id=message.conversation_id, position=n, name=a.name,
                       kind=a.kind, media_type=a.media_type, size=a.size, sha256=a.sha256,
                       thumbnail_sha256=_digest(a.thumbnail) if a.thumbnail else None, width=a.width,
                       height=a.height, text=a.text if a.kind != IMAGE else None, text_chars=a.text_chars)
            for n, a in enumerate(attachments)]
    session.add_all(rows)
    return rows


async def copy_attachments(session: AsyncSession, copies: Mapping[int, Message]) -> None:
    """The attachments of messages (by id) onto their copies (flushed): a fork's, or an edited question's. The
    copies share the bytes."""
    if not copies:
        return
    originals = await session.exec(select(Attachment).where(col(Attachment.message_id).in_(copies)))
    for original in originals.all():
        copy = copies[original.message_id]
        assert copy.id is not None
        fields = original.model_dump(exclude={'id', 'message_id', 'conversation_id', 'created_at'})
        session.add(Attachment(**fields, message_id=copy.id, conversation_id=copy.conversation_id))


async def shown_attachments(session: AsyncSession, messages: Sequence[Message]) -> dict[int, list[ShownFile]]:
    """What the messages shown attach, by message id, without their text (a page shows names and thumbnails)."""
    ids = [m.id for m in messages if m.attached_chars and m.id is not None]
    if not ids:
        return {}
    rows = await session.exec(
        select(Attachment.message_id, Attachment.id, Attachment.name, Attachment.kind, Attachment.size,
               Attachment.width, Attachment.height, func.length(col(Attachment.text)), Attachment.text_chars)
        .where(col(Attachment.message_id).in_(ids)).order_by(col(Attachment.message_id), col(Attachment.position)))
    found: dict[int, list[ShownFile]] = {}
    for message_id, id_, name, kind, size, width, height, kept, whole in rows.all():
        note = cut_note(kept or 0, whole) if kind != IMAGE else ''
        found.setdefault(message_id, []).append(ShownFile(id_, name, kind, size, width, height, note))
    return found


async def prompt_files(session: AsyncSession, messages: Sequence[Message]) -> dict[int, list[PromptFile]]:
    """What a prompt reads of the messages' attachments, by message id: texts, and the bytes of images only."""
    ids = [m.id for m in messages if m.attached_chars and m.id is not None]
    if not ids:
        return {}
    image_data = case((col(Attachment.kind) == IMAGE, col(Blob.data)), else_=None)
    rows = await session.exec(
        select(Attachment.message_id, Attachment.name, Attachment.kind, Attachment.text, Attachment.text_chars,
               Attachment.media_type, image_data)
        .join(Blob, col(Blob.sha256) == col(Attachment.sha256))
        .where(col(Attachment.message_id).in_(ids)).order_by(col(Attachment.message_id), col(Attachment.position)))
    found: dict[int, list[PromptFile]] = {}
    for message_id, name, kind, text, text_chars, media_type, data in rows.all():
        found.setdefault(message_id, []).append(PromptFile(name, kind, text or '', text_chars, media_type, data or b''))
    return found


async def blobs_of(session: AsyncSession, conversation_ids: Collection[str]) -> set[str]:
    """The bytes the conversations' attachments hold (before they are deleted: see `drop_unattached`)."""
    rows = await session.exec(select(Attachment.sha256, Attachment.thumbnail_sha256)
                              .where(col(Attachment.conversation_id).in_(conversation_ids)))
    return {digest for row in rows.all() for digest in row if digest}


async def drop_unattached(session: AsyncSession, digests: Collection[str]) -> None:
    """Delete those of the bytes that no attachment holds any longer."""
    if not digests:
        return
    held = exists().where(or_(col(Attachment.sha256) == col(Blob.sha256),
                              col(Attachment.thumbnail_sha256) == col(Blob.sha256)))
    await session.exec(delete(Blob).where(col(Blob.sha256).in_(sorted(digests)), ~held))  # type: ignore[call-overload]


async def _store_blobs(session: AsyncSession, blobs: Mapping[str, bytes]) -> None:
    """Insert the bytes not stored yet, in one statement: one that another question stores at the same moment is
    skipped, not a conflict."""
    if not blobs:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == 'postgresql' else sqlite.insert
    now = utcnow()
    rows = [{'sha256': digest, 'size': len(data), 'data': data, 'created_at': now} for digest, data in blobs.items()]
    await session.exec(insert(_BLOB).values(rows).on_conflict_do_nothing(index_elements=['sha256']))  # type: ignore[call-overload]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
