"""Rows made (and read) straight through a `Database`, with SQLModel sessions: what tests and benchmarks need
that the app never asks the store for."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy import bindparam, delete, update
from sqlmodel import select

from chatapp.db import Database
from chatapp.models import Conversation, Message, ReplyClaim, Role, User, utcnow
from chatapp.rendering import render_markdown


async def make_conversation(database: Database, user_id: str, title: str, *,
                            at: datetime | None = None) -> Conversation:
    """A conversation of the user's with no messages, created and last changed `at` (now by default)."""
    at = at or utcnow()
    conversation = Conversation(user_id=user_id, title=title, created_at=at, updated_at=at)
    async with database.writing() as session:
        session.add(conversation)
        await session.commit()
    return conversation


async def get_user(database: Database, user_id: str) -> User | None:
    async with database.session() as session:
        return await session.get(User, user_id)


async def find_user(database: Database, provider: str) -> User:
    """The (first) user of a provider: the local user of an app in local mode."""
    async with database.session() as session:
        return (await session.exec(select(User).where(User.provider == provider))).one()


async def release_claims(database: Database, conversation_id: str) -> None:
    """The conversation's reply is no longer claimed, as when its writer has released it."""
    async with database.writing() as session:
        await session.exec(delete(ReplyClaim).where(ReplyClaim.conversation_id == conversation_id))
        await session.commit()


async def expire_claims(database: Database) -> None:
    """Every reply claim's lease has run out, as when the instances writing them died."""
    async with database.writing() as session:
        await session.exec(update(ReplyClaim).values(lease_until=utcnow() - timedelta(seconds=1)))
        await session.commit()


async def make_message(database: Database, conversation_id: str, role: Role, content: str,
                       parent_id: int | None, *, shown: bool = True) -> Message:
    """A finished message under `parent_id`: a branch the store's actions would make. `shown`: the
    conversation shows the branch it ends."""
    message = Message(conversation_id=conversation_id, role=role, content=content, parent_id=parent_id)
    async with database.writing() as session:
        session.add(message)
        await session.flush()
        if shown:
            await session.exec(update(Conversation).where(Conversation.id == conversation_id)
                               .values(leaf_id=message.id))
        await session.commit()
        await session.refresh(message)
    return message


def long_reply(index: int) -> str:
    return f'Reply {index}: a **point** and a list.\n\n- first of {index}\n- second of {index}\n'


async def make_long_conversation(database: Database, user_id: str, exchanges: int, *, title: str = 'Long',
                                 html: bool = True) -> tuple[Conversation, list[int]]:
    """A conversation of `exchanges` questions ('Question N') and replies (`long_reply(N)`), one branch, with the
    replies' HTML kept as the app keeps it (`html`) or not (as from before it was kept); and its messages' ids."""
    conversation = await make_conversation(database, user_id, title)
    now = utcnow()
    rows: list[dict] = []
    for n in range(exchanges):
        text = long_reply(n)
        rows.append(Message(conversation_id=conversation.id, role=Role.USER, content=f'Question {n}',
                            author_id=user_id, created_at=now, updated_at=now).model_dump(exclude={'id'}))
        rows.append(Message(conversation_id=conversation.id, role=Role.ASSISTANT, content=text,
                            html=render_markdown(text) if html else None, created_at=now,
                            updated_at=now).model_dump(exclude={'id'}))
    async with database.writing() as session:
        await session.exec(Message.__table__.insert(), params=rows)
        ids = list((await session.exec(select(Message.id).where(Message.conversation_id == conversation.id)
                                       .order_by(Message.id))).all())
        await session.exec(Message.__table__.update().where(Message.__table__.c.id == bindparam('child'))
                           .values(parent_id=bindparam('parent')),
                           params=[{'child': child, 'parent': parent} for parent, child in pairwise(ids)])
        await session.exec(update(Conversation).where(Conversation.id == conversation.id).values(leaf_id=ids[-1]))
        await session.commit()
    return conversation, ids
