"""The tables: users, their conversations, and one row per message."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, LargeBinary, String, Text, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())  # unguessable, unlike a counter


class Role(StrEnum):
    USER = 'user'
    ASSISTANT = 'assistant'


class Status(StrEnum):
    STREAMING = 'streaming'
    COMPLETE = 'complete'
    STOPPED = 'stopped'
    ERROR = 'error'
    INTERRUPTED = 'interrupted'  # the stream or the process broke off; what was saved is kept
    QUEUED = 'queued'  # a question sent while the model was answering another: it answers this one next


class TitleSource(StrEnum):
    FIRST_LINE = 'first_line'  # so far: a model titles it after its next complete reply (while titles are on)
    MODEL = 'model'
    FINAL = 'final'  # the first line for good: the title model failed, or it is older than titles
    PERSON = 'person'  # renamed: nothing overwrites it


class ModelAnswers(StrEnum):
    """When the model answers in a conversation several people share (alone, a person is always answered)."""
    EVERY = 'every'  # message
    MENTION = 'mention'  # only messages that name it: @model, or its name


class Access(StrEnum):
    """What a person may do with a conversation; everybody else may do nothing, and is told it does not exist."""
    OWNER = 'owner'  # everything, and decides who else may
    PARTICIPANT = 'participant'  # read and write: send, regenerate, stop
    VIEWER = 'viewer'  # read, live


READ = frozenset(Access)
WRITE = frozenset({Access.OWNER, Access.PARTICIPANT})
OWN = frozenset({Access.OWNER})


class User(SQLModel, table=True):
    __table_args__ = (Index('ix_user_identity', 'provider', 'subject', unique=True),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    provider: str = Field(max_length=64)
    subject: str = Field(max_length=255)
    email: str = Field(default='', max_length=320)
    name: str = Field(default='', max_length=255)
    avatar_url: str = Field(default='', max_length=2048)
    last_model: str = Field(default='', max_length=300)  # the model a new conversation of theirs starts with
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime = Field(default_factory=utcnow)


class Folder(SQLModel, table=True):
    """A person's folder of conversations (one level): their own, and those shared with them that they filed."""
    __table_args__ = (Index('ix_folder_user', 'user_id'),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key='user.id', max_length=36)
    name: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)


def _partial(name: str, column: str, only: str) -> Index:
    """An index on a person's conversations (user_id, `column`) that holds only those whose `only` is set."""
    where = text(f'{only} IS NOT NULL')
    return Index(name, 'user_id', column, sqlite_where=where, postgresql_where=where)


class Conversation(SQLModel, table=True):
    __table_args__ = (
        Index('ix_conversation_user_updated', 'user_id', 'updated_at'),
        Index('ix_conversation_user_imported', 'user_id', 'imported_from', unique=True),
        # partial: the few a person pinned, filed or archived, found without reading all their conversations
        _partial('ix_conversation_user_pinned', 'pinned_at', 'pinned_at'),
        _partial('ix_conversation_user_filed', 'folder_id', 'folder_id'),
        _partial('ix_conversation_user_archived', 'updated_at', 'archived_at'),  # the Archived view, newest first
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key='user.id', max_length=36)
    title: str = Field(default='New chat', max_length=200)
    title_source: str = Field(default=TitleSource.FIRST_LINE, max_length=16)
    model: str = Field(default='', max_length=300)  # the key of the model of its next reply; empty: the default
    system_prompt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # None: the app's
    model_answers: str = Field(default=ModelAnswers.EVERY, max_length=16)  # where several people write
    shared: bool = False  # someone besides the owner may read it (kept by the store as members come and go)
    # the last message of the branch shown; no foreign key, so a conversation and its messages can be
    # written and deleted in either order
    leaf_id: int | None = None
    forked_from: str | None = Field(default=None, max_length=36)  # a conversation, which may be gone since
    # where its owner keeps it (a member keeps it where their ConversationMember row says)
    pinned_at: datetime | None = None
    archived_at: datetime | None = None
    folder_id: str | None = Field(default=None, max_length=36)  # no foreign key: the store empties a deleted folder
    # what it was imported from ('chatgpt:<id>', 'chatapp:<id>'): importing the same file again adds nothing
    imported_from: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Message(SQLModel, table=True):
    """A message of a conversation's tree: a regenerated reply or an edited question is a sibling of the
    message it replaces, under the same parent."""
    __table_args__ = (
        Index('ix_message_conversation_id', 'conversation_id', 'id'),
        Index('ix_message_parent_id', 'parent_id'),
        Index('ix_message_status', 'status'),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key='conversation.id', max_length=36, ondelete='CASCADE')
    parent_id: int | None = None  # None: the conversation's first message (or one of its siblings)
    author_id: str | None = Field(default=None, max_length=36)  # who wrote a question (None: from before)
    role: Role = Field(sa_type=String(16))  # plain strings: no database enum types to migrate
    content: str = Field(default='', sa_column=Column(Text, nullable=False, default=''))
    html: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # a finished reply, rendered
    status: Status = Field(default=Status.COMPLETE, sa_type=String(16))
    error: str = Field(default='', max_length=1000)
    model: str = Field(default='', max_length=300)  # the key of the model that wrote a reply
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_estimated: bool = False  # the endpoint reported no usage: the tokens are estimated
    first_token_ms: int | None = None  # from the request to the first token
    tokens_per_second: float | None = None
    cost: float | None = None  # with prices configured for the model
    # what its attachments add to its prompt, in characters (an image counts as llm/prompt.py's IMAGE_CHARS)
    attached_chars: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Blob(SQLModel, table=True):
    """The bytes of an attached file (or its thumbnail), stored once however often it is attached: by its SHA-256."""
    sha256: str = Field(primary_key=True, max_length=64)
    size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Attachment(SQLModel, table=True):
    """A file attached to a question: read by whoever may read the question, deleted with it."""
    __table_args__ = (
        Index('ix_attachment_message', 'message_id', 'position'),
        Index('ix_attachment_blob', 'sha256'),
        Index('ix_attachment_thumbnail', 'thumbnail_sha256'),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)  # in download links: unguessable
    message_id: int = Field(foreign_key='message.id', ondelete='CASCADE')
    conversation_id: str = Field(max_length=36)  # whose readers may read it
    position: int = 0  # on the message
    name: str = Field(max_length=255)
    kind: str = Field(max_length=16)  # attachments.files.Kind
    media_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(foreign_key='blob.sha256', max_length=64)
    thumbnail_sha256: str | None = Field(default=None, foreign_key='blob.sha256', max_length=64)
    width: int = 0  # of an image
    height: int = 0
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # what the model reads
    text_chars: int = 0  # of the file's whole text: more than `text` holds when it was cut to fit the context
    created_at: datetime = Field(default_factory=utcnow)


class ConversationMember(SQLModel, table=True):
    """A teammate the owner brought into a conversation, as a participant or a viewer."""
    __tablename__ = 'conversation_member'
    __table_args__ = (Index('ix_conversation_member_user', 'user_id'),)

    conversation_id: str = Field(foreign_key='conversation.id', primary_key=True, max_length=36, ondelete='CASCADE')
    user_id: str = Field(foreign_key='user.id', primary_key=True, max_length=36)
    access: Access = Field(sa_type=String(16))
    added_at: datetime = Field(default_factory=utcnow)
    # where this member keeps it, as Conversation's for its owner
    pinned_at: datetime | None = None
    archived_at: datetime | None = None
    folder_id: str | None = Field(default=None, max_length=36)


class ShareLink(SQLModel, table=True):
    """A read-only link to a conversation, up to one message or (up_to None) following it live."""
    __tablename__ = 'share_link'
    __table_args__ = (Index('ix_share_link_conversation', 'conversation_id'),)

    token: str = Field(default_factory=lambda: secrets.token_urlsafe(18), primary_key=True, max_length=32)
    conversation_id: str = Field(foreign_key='conversation.id', max_length=36, ondelete='CASCADE')
    up_to: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    last_opened_at: datetime | None = None


class ReplyClaim(SQLModel, table=True):
    """Which app process is writing a conversation's reply, and until when its lease runs: one reply per
    conversation across every instance. A process that dies stops renewing; its claim expires."""
    __tablename__ = 'reply_claim'

    conversation_id: str = Field(foreign_key='conversation.id', primary_key=True, max_length=36,
                                 ondelete='CASCADE')
    message_id: int
    instance_id: str = Field(max_length=64)
    lease_until: datetime


class Preset(SQLModel, table=True):
    """A person's own preset: a model, a system prompt and conversation starters (team presets are configured)."""
    __table_args__ = (Index('ix_preset_user', 'user_id'),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key='user.id', max_length=36)
    name: str = Field(max_length=100)
    model: str = Field(default='', max_length=300)
    system_prompt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    starters: str = Field(default='[]', sa_column=Column(Text, nullable=False, default='[]'))  # a JSON list
    created_at: datetime = Field(default_factory=utcnow)


class UsageRecord(SQLModel, table=True):
    """Tokens a person spent besides their replies (which keep their own), e.g. on a conversation's title."""
    __tablename__ = 'usage_record'
    __table_args__ = (Index('ix_usage_record_user_created', 'user_id', 'created_at'),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(foreign_key='user.id', max_length=36)
    conversation_id: str | None = Field(default=None, max_length=36)
    purpose: str = Field(max_length=16)
    model: str = Field(default='', max_length=300)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    created_at: datetime = Field(default_factory=utcnow)
