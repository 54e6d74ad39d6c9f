"""Rows made (and read) straight through a `Database`, with SQLModel sessions: what tests and benchmarks need
that the app never asks the store for."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import select

from chatapp.db import Database
from chatapp.models import Conversation, Message, ReplyClaim, Role, User, utcnow


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
