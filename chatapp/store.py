"""The conversation store: every read and write of conversations and messages, scoped to the acting user.

This is the one place that decides who may see what: each query filters by `user_id`, so another
user's conversation looks exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Delete,
    Select,
    bindparam,
    delete,
    func,
    insert,
    or_,
    union,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from chatapp.attachments import rows as attachment_rows
from chatapp.attachments.content import IMAGE, NewAttachment, PromptFile, ShownFile
from chatapp.db import Database
from chatapp.events import (
    BranchShown,
    ConversationChanged,
    EventBus,
    MembersChanged,
    Usage,
    conversation_topic,
    user_topic,
)
from chatapp.models import (
    OWN,
    READ,
    WRITE,
    Access,
    Attachment,
    Blob,
    Conversation,
    ConversationMember,
    Folder,
    Message,
    ModelAnswers,
    ReplyClaim,
    Role,
    ShareLink,
    Status,
    TitleSource,
    UsageRecord,
    User,
    utcnow,
)
from chatapp.places import (
    FOLDER_ROWS,
    MAX_FOLDERS,
    MAX_PINNED,
    FolderRows,
    Shelf,
    Shelves,
    folder_name,
    on_shelf,
    place_columns,
    with_place,
)
from chatapp.search import SearchHit, escape_like, holds, inline, like_pattern, messages_hold, newest_holding
from chatapp.text import clean

TITLE_CHARS = 60
PAGE_SIZE = 50
LEASE_SECONDS = 15.0  # a claim the writing process stops renewing is free again after this


class Busy(Exception):
    """The conversation already has a reply being written, by this or another app instance."""


@dataclass(frozen=True)
class Claim:
    """This instance writes the reply of this conversation (a row of reply_claim)."""
    conversation_id: str
    instance_id: str


@dataclass(frozen=True)
class GrowingReply:
    """A reply being written by this instance, for the periodic save."""
    user_id: str
    conversation_id: str
    message_id: int
    text: str | None  # None: unchanged since the last save; only the claim is renewed


@dataclass(frozen=True)
class Branch:
    """The branch a conversation shows, or a window of it (the messages read), and the siblings of each message
    read (itself included, oldest first) where there are several."""
    messages: list[Message]
    siblings: dict[int, list[int]]
    forked_from: Conversation | None = None  # the person's conversation this one was forked from
    conversation: Conversation | None = None
    access: Access | None = None  # what the reader may do with it
    # who wrote the questions read, by author id ('' for questions from before authors were kept), where it is
    # shared or several people wrote; empty otherwise
    speakers: dict[str, str] = field(default_factory=dict)
    path: list[int] | None = None  # the ids of the whole branch, in order (None: the messages are all of it)
    lengths: list[int] = field(default_factory=list)  # of each message of `path`, in characters, attachments too
    start: int = 0  # where the messages read begin in `path`
    attachments: dict[int, list[ShownFile]] = field(default_factory=dict)  # of the messages read


# which messages of a branch to read, from the ids of all of them: (start, end) as a slice
Pick = Callable[[Sequence[int]], tuple[int, int]]


def whole(path: Sequence[int]) -> tuple[int, int]:
    return 0, len(path)


@dataclass(frozen=True)
class Room:
    """What decides how a message is answered in a conversation: alone, or shared, and when the model answers."""
    shared: bool  # someone besides the owner may read it
    model_answers: ModelAnswers


@dataclass(frozen=True)
class PromptSource:
    conversation: Conversation
    messages: list[Message]
    speakers: dict[str, str]  # author id ('' for questions from before authors) -> name; empty: one person
    files: dict[int, list[PromptFile]] = field(default_factory=dict)  # what the questions attach, by message id


@dataclass(frozen=True)
class Tree:
    """A conversation with every message of its tree (every branch), oldest first, as a reader may see it."""
    conversation: Conversation
    messages: list[Message]
    authors: dict[str, str]  # the names of who wrote its questions by author id ('' for the owner's old ones)
    attachments: dict[int, list[ShownFile]] = field(default_factory=dict)  # what its questions attach, by id


def title_from(text: str) -> str:
    """A conversation's title: the first line of its first message, shortened at a word."""
    line = next((part.strip() for part in text.strip().splitlines() if part.strip()), '')
    line = line.lstrip('#>*-` ').strip() or 'New chat'
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[:TITLE_CHARS].rsplit(' ', 1)[0] or line[:TITLE_CHARS]
    return cut.rstrip(' ,.;:') + '…'


class ConversationStore:
    """Owns every query; after a write that changes a sidebar, tells the owner's views."""

    def __init__(self, database: Database, bus: EventBus) -> None:
        self.db = database
        self.bus = bus

    def _changed(self, readers: Sequence[str], conversation_id: str, *, deleted: bool = False) -> None:
        """Tell the sidebars of the people who may read the conversation: it is new, renamed, moved up or gone."""
        for reader in readers:
            self.bus.publish(user_topic(reader), ConversationChanged(reader, conversation_id, deleted))

    # --- users -------------------------------------------------------------------------------------

    async def upsert_user(self, provider: str, subject: str, *, email: str = '', name: str = '',
                          avatar_url: str = '') -> User:
        """Find the user by their stable (provider, subject) id; refresh their profile at each login.

        Two first logins racing (two instances, two tabs) both try to insert: the loser finds the row.
        """
        for attempt in range(2):
            async with self.db.writing() as session:
                query = select(User).where(User.provider == provider, User.subject == subject)
                user = (await session.exec(query)).first() or User(provider=provider, subject=subject)
                user.email, user.name, user.avatar_url = email, name, avatar_url
                user.last_login_at = utcnow()
                session.add(user)
                try:
                    await session.commit()
                    return user
                except IntegrityError:
                    if attempt:
                        raise
        raise AssertionError('unreachable')

    async def last_model(self, user_id: str) -> str:
        """The model the person picked last (a key), or ''."""
        async with self.db.session() as session:
            return (await session.exec(select(User.last_model).where(User.id == user_id))).first() or ''

    # --- conversations -----------------------------------------------------------------------------

    async def list_conversations(self, user_id: str, *, limit: int = PAGE_SIZE,
                                 before: tuple[datetime, str] | None = None,
                                 archived: bool = False) -> list[Conversation]:
        """The conversations the user may read (their own and those shared with them) that they keep in the list
        (neither pinned, nor in a folder, nor archived: `shelves` has those) or, `archived`, those they archived;
        newest first, a page at a time (keyset: pass the last row's key); each with the reader's place."""
        if before is None:
            page = None
        else:
            updated_at, conversation_id = before
            page = or_(col(Conversation.updated_at) < updated_at,
                       (col(Conversation.updated_at) == updated_at) & (col(Conversation.id) < conversation_id))
        async with self.db.session() as session:
            return await _newest_readable(session, user_id, page, limit,
                                          Shelf.ARCHIVED if archived else Shelf.LISTED)

    async def search(self, user_id: str, query: str, *, limit: int = PAGE_SIZE) -> list[SearchHit]:
        """The conversations the person may read whose title or messages hold `query` (in any case), newest first,
        each with its newest message that holds it and a snippet around the match (chatapp/search.py)."""
        query = clean(query).strip()
        if not query:
            return []
        pattern = like_pattern(query)
        async with self.db.session() as session:
            in_messages = await messages_hold(session, self.db.engine.dialect.name, query, pattern)
            conversations = await _newest_readable(session, user_id, or_(holds(col(Conversation.title), pattern),
                                                                         in_messages), limit)
            newest = await newest_holding(session, [c.id for c in conversations], query, pattern)
        return [SearchHit(c, *newest.get(c.id, (None, None))) for c in conversations]

    async def rename_conversation(self, user_id: str, conversation_id: str, title: str) -> Conversation | None:
        title = ' '.join(clean(title).split())[:200]
        if not title:
            return None
        async with self.db.writing() as session:
            conversation = await _granted(session, user_id, conversation_id, OWN)
            if conversation is None:
                return None
            conversation.title, conversation.title_source = title, TitleSource.PERSON
            session.add(conversation)
            readers = await _readers(session, conversation)
            await session.commit()
        self._changed(readers, conversation_id)
        return conversation

    async def set_model(self, user_id: str, conversation_id: str | None, model: str) -> None:
        """The model of the conversation's next reply (of a new one: None), which is also the model the person's
        next new conversation starts with."""
        async with self.db.writing() as session:
            await session.exec(update(User).where(col(User.id) == user_id).values(last_model=model))
            if conversation_id is not None:
                await session.exec(update(Conversation).where(col(Conversation.id) == conversation_id,
                                                              col(Conversation.user_id) == user_id)
                                   .values(model=model))
            await session.commit()

    async def set_system_prompt(self, user_id: str, conversation_id: str, prompt: str | None) -> bool:
        """The conversation's own system prompt (None: the app's)."""
        async with self.db.writing() as session:
            changed = await session.exec(update(Conversation).where(col(Conversation.id) == conversation_id,
                                                                    col(Conversation.user_id) == user_id)
                                         .values(system_prompt=None if prompt is None else clean(prompt)))
            await session.commit()
        return changed.rowcount == 1

    async def set_model_title(self, user_id: str, conversation_id: str, title: str | None) -> bool:
        """A title a model wrote (None: none could be), unless the person named the conversation meanwhile; the
        conversation keeps its place in the list."""
        values: dict[str, object] = {'title_source': TitleSource.FINAL}
        if title:
            values = {'title': ' '.join(clean(title).split())[:200], 'title_source': TitleSource.MODEL}
        async with self.db.writing() as session:
            changed = await session.exec(update(Conversation).where(
                col(Conversation.id) == conversation_id, col(Conversation.user_id) == user_id,
                col(Conversation.title_source) == TitleSource.FIRST_LINE).values(**values))
            conversation = await session.get(Conversation, conversation_id) if changed.rowcount == 1 and title \
                else None
            readers = await _readers(session, conversation) if conversation is not None else []
            await session.commit()
        self._changed(readers, conversation_id)
        return changed.rowcount == 1

    async def record_usage(self, record: UsageRecord) -> None:
        async with self.db.writing() as session:
            session.add(record)
            await session.commit()

    async def usage_since(self, user_id: str, since: datetime) -> tuple[int, float]:
        """Tokens (in and out) and cost of everything the person's model calls since `since`."""
        owned = select(Conversation.id).where(Conversation.user_id == user_id)
        replies = select(func.coalesce(func.sum(func.coalesce(Message.prompt_tokens, 0)
                                                + func.coalesce(Message.completion_tokens, 0)), 0),
                         func.coalesce(func.sum(Message.cost), 0.0)) \
            .where(col(Message.conversation_id).in_(owned), col(Message.created_at) >= since,
                   Message.role == Role.ASSISTANT)
        others = select(func.coalesce(func.sum(UsageRecord.prompt_tokens + UsageRecord.completion_tokens), 0),
                        func.coalesce(func.sum(UsageRecord.cost), 0.0)) \
            .where(UsageRecord.user_id == user_id, col(UsageRecord.created_at) >= since)
        async with self.db.session() as session:
            reply_tokens, reply_cost = (await session.exec(replies)).one()
            other_tokens, other_cost = (await session.exec(others)).one()
        return int(reply_tokens) + int(other_tokens), float(reply_cost) + float(other_cost)

    # --- order: pins, archive, folders ------------------------------------------------------------
    # Each person keeps each conversation they may read their own way (chatapp/places.py); every change shows in
    # that person's sidebars only.

    async def shelves(self, user_id: str, *, limit: int = PAGE_SIZE,
                      open_folders: Collection[str] | None = None) -> Shelves:
        """The person's sidebar: what they pinned, their folders with how many each holds and the newest of what
        the open ones hold (`open_folders`; None: all of them), and the first `limit` of the rest
        (`list_conversations` pages on)."""
        async with self.db.session() as session:
            return Shelves(await _pinned(session, user_id), await _filed(session, user_id, open_folders),
                           await _newest_readable(session, user_id, None, limit, Shelf.LISTED))

    async def set_pinned(self, user_id: str, conversation_id: str, pinned: bool) -> bool:
        """Pin on top of the person's list (a pinned conversation is not archived), or unpin. False: no such
        conversation for this person."""
        return await self._keep(user_id, conversation_id, {'pinned_at': utcnow(), 'archived_at': None} if pinned
                                else {'pinned_at': None})

    async def set_archived(self, user_id: str, conversation_id: str, archived: bool) -> bool:
        """Out of the person's list (and unpinned; search still finds it), or back where it was (its folder)."""
        return await self._keep(user_id, conversation_id, {'archived_at': utcnow(), 'pinned_at': None} if archived
                                else {'archived_at': None})

    async def move_to_folder(self, user_id: str, conversation_id: str, folder_id: str | None) -> bool:
        """Into one of the person's folders (None: out of any), unpinned, as it goes where it was moved. False: no
        such conversation or folder for this person."""
        return await self._keep(user_id, conversation_id, {'folder_id': folder_id, 'pinned_at': None},
                                folder_id=folder_id)

    async def _keep(self, user_id: str, conversation_id: str, place: dict[str, object], *,
                    folder_id: str | None = None) -> bool:
        async with self.db.writing() as session:
            if folder_id is not None and await _own_folder(session, user_id, folder_id, lock=True) is None:
                return False
            row = await _place_of(session, user_id, conversation_id)
            if row is None:
                return False
            for name, value in place.items():
                setattr(row, name, value)  # not updated_at: keeping it elsewhere does not make it newer
            session.add(row)
            await session.commit()
        self._changed([user_id], conversation_id)
        return True

    async def folders(self, user_id: str) -> list[Folder]:
        """The person's folders, by name."""
        async with self.db.session() as session:
            found = (await session.exec(select(Folder).where(col(Folder.user_id) == user_id))).all()
        return sorted(found, key=lambda f: (f.name.casefold(), f.created_at, f.id))

    async def create_folder(self, user_id: str, name: str) -> Folder | None:
        """None: a blank name, or the person has MAX_FOLDERS already."""
        name = folder_name(name)
        if not name:
            return None
        async with self.db.writing() as session:
            have = (await session.exec(select(func.count()).select_from(Folder).where(col(Folder.user_id) == user_id)
                                       )).one()
            if have >= MAX_FOLDERS:
                return None
            folder = Folder(user_id=user_id, name=name)
            session.add(folder)
            await session.commit()
        self._changed([user_id], '')  # '': no conversation changed, the folders did
        return folder

    async def rename_folder(self, user_id: str, folder_id: str, name: str) -> Folder | None:
        name = folder_name(name)
        async with self.db.writing() as session:
            folder = await _own_folder(session, user_id, folder_id) if name else None
            if folder is None:
                return None
            folder.name = name
            session.add(folder)
            await session.commit()
        self._changed([user_id], '')
        return folder

    async def delete_folder(self, user_id: str, folder_id: str, *, keep_conversations: bool) -> list[str] | None:
        """Delete the person's folder. What it holds goes back to the list (`keep_conversations`) or is deleted
        with it: of what it holds (archived ones too), the conversations the person owns are deleted for everyone;
        those shared with them only leave it. Returns the ids of the conversations deleted; None: no such folder."""
        async with self.db.writing() as session:
            folder = await _own_folder(session, user_id, folder_id)
            if folder is None:
                return None
            await session.delete(folder)
            await session.flush()  # first: a conversation being moved into it waits, then finds no folder
            filed = col(Conversation.user_id) == user_id, col(Conversation.folder_id) == folder_id
            owned: list[str] = [] if keep_conversations else \
                list((await session.exec(select(Conversation.id).where(*filed))).all())
            await session.exec(update(Conversation).where(*filed).values(folder_id=None))
            await session.exec(update(ConversationMember).where(col(ConversationMember.user_id) == user_id,
                                                                col(ConversationMember.folder_id) == folder_id)
                               .values(folder_id=None))
            deleted = await _delete_conversations(session, owned)
            await session.commit()
        await self._drop_unattached(deleted.blobs)
        self._changed([user_id], '')
        for conversation_id in owned:  # they leave every sidebar they were in
            self._changed([user_id, *deleted.members.get(conversation_id, [])], conversation_id, deleted=True)
        return owned

    # --- members -----------------------------------------------------------------------------------

    async def access_of(self, user_id: str, conversation_id: str) -> Access | None:
        """What the person may do with the conversation; None: nothing (as if it did not exist)."""
        async with self.db.session() as session:
            conversation = await session.get(Conversation, conversation_id)
            return await _access(session, user_id, conversation) if conversation is not None else None

    async def members(self, user_id: str, conversation_id: str) -> list[tuple[User, Access]] | None:
        """Who may read the conversation, the owner first, for a person who may read it too (else None)."""
        async with self.db.session() as session:
            conversation = await _granted(session, user_id, conversation_id, READ)
            if conversation is None:
                return None
            owner = await session.get(User, conversation.user_id)
            query = select(User, ConversationMember.access) \
                .join(ConversationMember, col(ConversationMember.user_id) == col(User.id)) \
                .where(ConversationMember.conversation_id == conversation_id) \
                .order_by(col(ConversationMember.added_at), col(User.id))
            rows = (await session.exec(query)).all()
        return ([(owner, Access.OWNER)] if owner is not None else []) + [(user, Access(a)) for user, a in rows]

    async def share(self, owner_id: str, conversation_id: str, member_id: str, access: Access) -> bool:
        """Bring a teammate in (or change what they may do): only the owner may, and only someone who has
        logged in before, as a participant or a viewer. Their sidebar shows it at once."""
        if access not in (Access.PARTICIPANT, Access.VIEWER) or member_id == owner_id:
            return False
        async with self.db.writing() as session:
            conversation = await _granted(session, owner_id, conversation_id, OWN)
            if conversation is None or await session.get(User, member_id) is None:
                return False
            member = await session.get(ConversationMember, (conversation_id, member_id)) or \
                ConversationMember(conversation_id=conversation_id, user_id=member_id, access=access)
            member.access = access
            shared_now, conversation.shared = not conversation.shared, True
            session.add_all([member, conversation])
            await session.commit()
        self._changed([member_id, owner_id] if shared_now else [member_id], conversation_id)  # (the owner's: marked)
        self.bus.publish(conversation_topic(conversation_id), MembersChanged(conversation_id))
        return True

    async def unshare(self, owner_id: str, conversation_id: str, member_id: str) -> bool:
        """Take a teammate out: only the owner may. The conversation leaves their sidebar at once."""
        async with self.db.writing() as session:
            conversation = await _granted(session, owner_id, conversation_id, OWN)
            if conversation is None:
                return False
            removed = await session.exec(delete(ConversationMember).where(
                col(ConversationMember.conversation_id) == conversation_id,
                col(ConversationMember.user_id) == member_id))
            conversation.shared = len(await _readers(session, conversation)) > 1
            session.add(conversation)
            await session.commit()
        if removed.rowcount != 1:
            return False
        self._changed([member_id], conversation_id, deleted=True)
        if not conversation.shared:
            self._changed([owner_id], conversation_id)  # no longer marked shared
        self.bus.publish(conversation_topic(conversation_id), MembersChanged(conversation_id))  # open pages learn
        return True

    async def find_people(self, user_id: str, text: str, limit: int = 8) -> list[User]:
        """Teammates who have logged in before whose name or email starts a word with `text` (not the person)."""
        text = clean(text).strip().lower()
        if not text:
            return []
        pattern = f'{escape_like(text)}%'
        query = select(User).where(User.id != user_id, User.provider != 'local', or_(
            func.lower(User.name).like(pattern, escape='\\'), func.lower(User.name).like(f'% {pattern}', escape='\\'),
            func.lower(User.email).like(pattern, escape='\\'))).order_by(col(User.name), col(User.email)).limit(limit)
        async with self.db.session() as session:
            return list((await session.exec(query)).all())

    # --- read-only links ----------------------------------------------------------------------------

    async def create_link(self, owner_id: str, conversation_id: str, *, live: bool) -> ShareLink | None:
        """A link that shows the conversation as it is now (up to its last message) or, `live`, as it goes on."""
        async with self.db.writing() as session:
            conversation = await _granted(session, owner_id, conversation_id, OWN)
            if conversation is None or (not live and conversation.leaf_id is None):
                return None
            link = ShareLink(conversation_id=conversation_id, up_to=None if live else conversation.leaf_id)
            session.add(link)
            await session.commit()
            return link

    async def links(self, owner_id: str, conversation_id: str) -> list[ShareLink]:
        query = select(ShareLink).join(Conversation, col(Conversation.id) == col(ShareLink.conversation_id)).where(
            col(ShareLink.conversation_id) == conversation_id, col(Conversation.user_id) == owner_id) \
            .order_by(col(ShareLink.created_at))
        async with self.db.session() as session:
            return list((await session.exec(query)).all())

    async def revoke_link(self, owner_id: str, token: str) -> bool:
        """The link shows nothing from now on (not found), wherever it was sent."""
        async with self.db.writing() as session:
            link = await session.get(ShareLink, token)
            if link is None or await _granted(session, owner_id, link.conversation_id, OWN) is None:
                return False
            await session.delete(link)
            await session.commit()
        self.bus.publish(conversation_topic(link.conversation_id), MembersChanged(link.conversation_id))  # its readers
        return True

    async def read_link(self, token: str, *, opened: bool = False,
                        pick: Pick = whole) -> tuple[ShareLink, Branch] | None:
        """What a link shows (the branch up to its message, or the conversation's branch now; the messages `pick`
        chooses of it), for whoever holds it; `opened` notes that someone opened it. None: no such link (or
        revoked)."""
        async with self.db.writing() if opened else self.db.session() as session:
            link = await session.get(ShareLink, token[:64])
            conversation = await session.get(Conversation, link.conversation_id) if link is not None else None
            if link is None or conversation is None:
                return None
            if opened:
                link.last_opened_at = utcnow()
                session.add(link)
                await session.commit()
            end = link.up_to or conversation.leaf_id
            window = await _window(session, conversation.id, end, pick)
            speakers = await _speakers(session, conversation, window.messages)
            shown = Branch(window.messages, {}, None, _as_read_by(session, conversation, None), Access.VIEWER,
                           speakers, window.path, window.lengths, window.start, window.attachments)
        return link, shown

    async def copy_from_link(self, user_id: str, token: str, message_id: int) -> Conversation | None:
        """'Continue as a copy': the person's own conversation, holding what the link shows up to `message_id`."""
        read = await self.read_link(token, pick=lambda path: (0, 0))
        if read is None or message_id not in (read[1].path or ()):
            return None
        branch = read[1]
        return await self._copy(user_id, branch.conversation, message_id) if branch.conversation else None

    async def delete_conversation(self, user_id: str, conversation_id: str) -> bool:
        async with self.db.writing() as session:
            if await _granted(session, user_id, conversation_id, OWN) is None:
                return False
            deleted = await _delete_conversations(session, [conversation_id])
            await session.commit()
        await self._drop_unattached(deleted.blobs)
        self._changed([user_id, *deleted.members.get(conversation_id, [])], conversation_id, deleted=True)
        return True

    async def _drop_unattached(self, digests: set[str]) -> None:
        """After a delete, the bytes no attachment holds any more: in a transaction of their own, so that a question
        attaching the same file again at that moment keeps them, and the delete itself never fails for it."""
        if not digests:
            return
        try:
            async with self.db.writing() as session:
                await attachment_rows.drop_unattached(session, digests)
                await session.commit()
        except IntegrityError:
            pass  # attached again meanwhile: they stay

    async def read_attachment(self, user_id: str, attachment_id: str, *,
                              thumbnail: bool = False) -> tuple[Attachment, bytes] | None:
        """An attachment and its bytes (or its thumbnail's), for a person who may read its conversation; None for
        anybody else, as for one that does not exist."""
        async with self.db.session() as session:
            attachment = await session.get(Attachment, attachment_id[:36])
            if attachment is None or await _granted(session, user_id, attachment.conversation_id, READ) is None:
                return None
            return await _with_bytes(session, attachment, thumbnail)

    async def read_link_attachment(self, token: str, attachment_id: str, *,
                                   thumbnail: bool = False) -> tuple[Attachment, bytes] | None:
        """An attachment of a message that a read-only link shows, for whoever holds the link; None otherwise (a
        message of another branch, or after the link's last one)."""
        async with self.db.session() as session:
            link = await session.get(ShareLink, token[:64])
            attachment = await session.get(Attachment, attachment_id[:36])
            if link is None or attachment is None or attachment.conversation_id != link.conversation_id:
                return None
            conversation = await session.get(Conversation, link.conversation_id)
            end = link.up_to or (conversation.leaf_id if conversation is not None else None)
            shown = (await session.exec(_path_ids(link.conversation_id, end))).all() if end is not None else []
            if attachment.message_id not in {row[0] for row in shown}:
                return None
            return await _with_bytes(session, attachment, thumbnail)

    # --- messages ----------------------------------------------------------------------------------

    async def list_messages(self, user_id: str, conversation_id: str, *,
                            up_to: int | None = None) -> list[Message] | None:
        """The branch shown, from the first message to the conversation's leaf (or to the message `up_to`),
        or None when the user has no such conversation. Other branches are not read."""
        async with self.db.session() as session:
            conversation = await _granted(session, user_id, conversation_id, READ)
            if conversation is None:
                return None
            end = conversation.leaf_id if up_to is None else up_to
            if end is None:
                return []
            return list((await session.exec(_path(conversation_id, end))).all())

    async def read_prompt(self, user_id: str, conversation_id: str, up_to: int, *,
                          budget: int = 0) -> PromptSource | None:
        """What a reply's prompt is built from: the conversation (its system prompt), the branch to `up_to` (its
        newest messages as far as they may fit in `budget` estimated tokens; 0: all of it), and the names of the
        people who wrote in it when there are several."""
        async with self.db.session() as session:
            conversation = await _granted(session, user_id, conversation_id, READ)
            if conversation is None:
                return None
            rows = (await session.exec(_path_ids(conversation_id, up_to))).all()
            messages = await _messages(session, [row[0] for row in rows[_fitting(rows, budget):]])
            authors = _authors(conversation, messages)
            speakers = await _names(session, conversation, authors) if len(authors) > 1 else {}
            files = await attachment_rows.prompt_files(session, messages)
        return PromptSource(conversation, messages, speakers, files)

    async def attaches_images(self, user_id: str, conversation_id: str, message_id: int) -> bool:
        """The question `message_id` (or, of a reply, its question) attaches an image."""
        async with self.db.session() as session:
            message = await session.get(Message, message_id)
            if message is None or message.conversation_id != conversation_id \
                    or await _granted(session, user_id, conversation_id, READ) is None:
                return False
            question = message.parent_id if message.role == Role.ASSISTANT else message.id
            found = await session.exec(select(Attachment.id).where(col(Attachment.message_id) == question,
                                                                   col(Attachment.kind) == IMAGE).limit(1))
            return found.first() is not None

    async def room(self, user_id: str, conversation_id: str) -> Room | None:
        """For a person who may write in the conversation: whether it is shared, and when the model answers."""
        async with self.db.session() as session:
            conversation = await _granted(session, user_id, conversation_id, WRITE)
        if conversation is None:
            return None
        return Room(conversation.shared, ModelAnswers(conversation.model_answers))

    async def set_model_answers(self, user_id: str, conversation_id: str, answers: ModelAnswers) -> bool:
        """The owner decides when the model answers where several people write."""
        async with self.db.writing() as session:
            changed = await session.exec(update(Conversation).where(col(Conversation.id) == conversation_id,
                                                                    col(Conversation.user_id) == user_id)
                                         .values(model_answers=answers))
            await session.commit()
        return changed.rowcount == 1

    async def add_question(self, user_id: str, conversation_id: str, text: str, *, queued: bool,
                           attachments: Sequence[NewAttachment] = ()) -> Message | None:
        """A message with no reply of its own (yet): in a shared conversation, one the model does not answer, or
        (`queued`) one it answers when the reply it is writing has ended. It ends the branch shown."""
        async with self.db.writing() as session:
            conversation = await _granted(session, user_id, conversation_id, WRITE)
            if conversation is None:
                return None
            question = Message(conversation_id=conversation_id, role=Role.USER, content=clean(text),
                               parent_id=conversation.leaf_id, author_id=user_id,
                               status=Status.QUEUED if queued else Status.COMPLETE,
                               attached_chars=sum(a.prompt_chars for a in attachments))
            session.add(question)
            await session.flush()
            await attachment_rows.attach(session, question, attachments)
            conversation.leaf_id, conversation.updated_at = question.id, utcnow()
            session.add(conversation)
            readers = await _readers(session, conversation)
            await session.commit()
        self._changed(readers, conversation_id)
        self.bus.publish(conversation_topic(conversation_id), BranchShown(conversation_id))  # its views read it
        return question

    async def question_waiting(self, conversation_id: str) -> bool:
        """The conversation's last message is a question waiting for the model."""
        async with self.db.session() as session:
            return (await session.exec(_WAITING.where(col(Conversation.id) == conversation_id))).first() is not None

    async def answer_queued(self, conversation_id: str, default_model: str,
                            instance_id: str) -> tuple[Conversation, Message] | None:
        """When a reply has ended: if the conversation's last message is a question waiting for the model, a
        streaming reply to it (by the conversation's model), claimed for `instance_id`; raises Busy when another
        reply is being written. Called by the engine, for nobody in particular: the reply is the conversation's."""
        async with self.db.writing() as session:
            conversation = await session.get(Conversation, conversation_id)
            question = await session.get(Message, conversation.leaf_id) if conversation and conversation.leaf_id \
                else None
            if conversation is None or question is None or question.status != Status.QUEUED:
                return None
            reply = Message(conversation_id=conversation_id, role=Role.ASSISTANT, status=Status.STREAMING,
                            model=conversation.model or default_model, parent_id=question.id)
            question.status = Status.COMPLETE
            session.add_all([question, reply])
            await session.flush()
            conversation.leaf_id = reply.id
            session.add(conversation)
            await _claim(session, conversation_id, instance_id, reply.id)
            await session.commit()
        return conversation, reply

    async def queued_conversations(self) -> list[str]:
        """The conversations whose last message is a question waiting for the model."""
        async with self.db.session() as session:
            return list((await session.exec(_WAITING)).all())

    async def sent_since(self, user_id: str, since: datetime) -> tuple[int, datetime | None]:
        """How many messages the user sent since `since`, and when the first of them was (the send rate)."""
        recent = select(Conversation.id).where(Conversation.user_id == user_id, col(Conversation.updated_at) >= since)
        query = select(func.count(), func.min(Message.created_at)).where(
            col(Message.conversation_id).in_(recent), Message.role == Role.USER, col(Message.created_at) >= since)
        async with self.db.session() as session:
            count, first = (await session.exec(query)).one()
        return count, first

    async def add_exchange(self, user_id: str, conversation_id: str | None, text: str, model: str,
                           instance_id: str, *, instead_of: int | None = None, system_prompt: str | None = None,
                           attachments: Sequence[NewAttachment] = ()) -> tuple[Message, Message] | None:
        """Store the user's message and an empty, streaming reply to it, claimed for `instance_id`, in one
        transaction (in a new conversation when `conversation_id` is None); raises Busy when another reply
        of the conversation is being written. Few round trips: under load each one waits for the loop.

        The message continues the branch shown, or (`instead_of`, an edit) becomes a sibling of that message
        of the person's, with its attachments; the new reply ends the branch shown from then on. `model` (a key)
        answers, and answers the conversation's next replies too; `system_prompt` is a new conversation's own."""
        text = clean(text)
        async with self.db.writing() as session:
            if conversation_id is None:
                conversation: Conversation | None = Conversation(
                    user_id=user_id, title=title_from(text or ''.join(a.name for a in attachments[:1])),
                    system_prompt=None if system_prompt is None else clean(system_prompt))
            else:
                conversation = await _granted(session, user_id, conversation_id, WRITE)
            if conversation is None:
                return None
            parent_id, edited = conversation.leaf_id, None
            if instead_of is not None:
                edited = await session.get(Message, instead_of)
                if edited is None or edited.conversation_id != conversation.id or edited.role != Role.USER:
                    return None
                parent_id = edited.parent_id
            conversation.updated_at, conversation.model = utcnow(), model
            question = Message(conversation_id=conversation.id, role=Role.USER, content=text, parent_id=parent_id,
                               author_id=user_id, attached_chars=sum(a.prompt_chars for a in attachments))
            session.add_all([conversation, question])
            await session.flush()
            if edited is not None and edited.attached_chars:  # an edit keeps what the question attached
                question.attached_chars += edited.attached_chars
                await attachment_rows.copy_attachments(session, {edited.id or 0: question})
            await attachment_rows.attach(session, question, attachments)
            reply = Message(conversation_id=conversation.id, role=Role.ASSISTANT, status=Status.STREAMING,
                            model=model, parent_id=question.id)
            session.add(reply)
            await session.flush()
            conversation.leaf_id = reply.id
            await _claim(session, conversation.id, instance_id, reply.id, new=conversation_id is None)
            readers = await _readers(session, conversation)
            await session.commit()
        self._changed(readers, conversation.id)
        return question, reply

    async def add_sibling_reply(self, user_id: str, conversation_id: str, message_id: int, model: str,
                                instance_id: str) -> Message | None:
        """Regenerate: an empty, streaming reply beside the reply `message_id`, under the same question,
        claimed for `instance_id`; it ends the branch shown. The old reply stays as its sibling."""
        async with self.db.writing() as session:
            conversation = await _granted(session, user_id, conversation_id, WRITE)
            if conversation is None:
                return None
            old = await session.get(Message, message_id)
            if old is None or old.conversation_id != conversation_id or old.role != Role.ASSISTANT:
                return None
            reply = Message(conversation_id=conversation_id, role=Role.ASSISTANT, status=Status.STREAMING,
                            model=model, parent_id=old.parent_id)
            session.add(reply)
            await session.flush()
            conversation.leaf_id, conversation.updated_at = reply.id, utcnow()
            session.add(conversation)
            await _claim(session, conversation_id, instance_id, reply.id)
            readers = await _readers(session, conversation)
            await session.commit()
        self._changed(readers, conversation_id)
        return reply

    async def show_branch(self, user_id: str, conversation_id: str, message_id: int) -> bool:
        """Show the branch through `message_id`, down to its newest message; its views follow."""
        async with self.db.writing() as session:
            conversation = await _granted(session, user_id, conversation_id, WRITE)
            if conversation is None:
                return False
            leaf = (await session.exec(_newest_below(conversation_id, message_id))).one_or_none()
            if leaf is None:
                return False
            conversation.leaf_id = leaf
            session.add(conversation)
            await session.commit()
        self.bus.publish(conversation_topic(conversation_id), BranchShown(conversation_id))
        return True

    async def fork(self, user_id: str, conversation_id: str, message_id: int) -> Conversation | None:
        """A new conversation holding a copy of the branch up to `message_id`, marked as a fork of this one."""
        async with self.db.session() as session:
            original = await _granted(session, user_id, conversation_id, READ)
        return await self._copy(user_id, original, message_id) if original is not None else None

    async def _copy(self, user_id: str, original: Conversation, message_id: int) -> Conversation | None:
        """The branch up to `message_id` as a new conversation of the person's; the system prompt only for its
        owner (others never saw it)."""
        conversation_id = original.id
        async with self.db.writing() as session:
            path = list((await session.exec(_path(conversation_id, message_id))).all())
            if not path:
                return None
            fork = Conversation(user_id=user_id, title=_fork_title(original.title), forked_from=original.id,
                                title_source=TitleSource.FINAL, model=original.model,
                                system_prompt=original.system_prompt if original.user_id == user_id else None)
            session.add(fork)
            parent_id, copies = None, {}
            for message in path:
                copy = Message(conversation_id=fork.id, parent_id=parent_id, **_copied(message))
                session.add(copy)
                await session.flush()
                parent_id = copy.id
                if message.attached_chars:
                    copies[message.id or 0] = copy
            await attachment_rows.copy_attachments(session, copies)
            fork.leaf_id = parent_id
            await session.commit()
        self._changed([user_id], fork.id)
        return fork

    async def read_branch(self, user_id: str, conversation_id: str, pick: Pick = whole) -> Branch | None:
        """The branch shown (the messages `pick` chooses of it) with the siblings of the messages read; None as
        list_messages."""
        async with self.db.session() as session:
            conversation = await _granted(session, user_id, conversation_id, READ)
            if conversation is None:
                return None
            origin = await _granted(session, user_id, conversation.forked_from, READ) \
                if conversation.forked_from else None
            access = await _access(session, user_id, conversation)
            conversation = _as_read_by(session, conversation, access)
            window = await _window(session, conversation_id, conversation.leaf_id, pick)
            siblings = await _siblings(session, conversation_id, window.messages)
            speakers = await _speakers(session, conversation, window.messages)
        return Branch(window.messages, siblings, origin, conversation, access, speakers, window.path, window.lengths,
                      window.start, window.attachments)

    async def keep_html(self, rendered: dict[int, str]) -> None:
        """Keep the HTML of finished replies stored without it (from before it was kept, or imported): each is
        rendered once."""
        if not rendered:
            return
        async with self.db.writing() as session:
            await session.exec(_MISSING_HTML, params=[{'reply_id': i, 'html': html} for i, html in rendered.items()])
            await session.commit()

    async def save_growing(self, instance_id: str, replies: Sequence[GrowingReply]) -> None:
        """Save the text so far of replies that are still streaming, and renew `instance_id`'s claims on their
        conversations, in one transaction of two statements, however many replies there are: SQLite has one
        writer, and replies saved one by one would hold it while people sending wait for it."""
        now = utcnow()
        changed = [{'reply_id': r.message_id, 'writer': r.user_id, 'text': r.text, 'at': now}
                   for r in replies if r.text is not None]
        renewal = update(ReplyClaim).where(col(ReplyClaim.instance_id) == instance_id,
                                           col(ReplyClaim.conversation_id).in_([r.conversation_id for r in replies])) \
            .values(lease_until=now + timedelta(seconds=LEASE_SECONDS))
        async with self.db.writing() as session:
            if changed:
                await session.exec(_GROWING_TEXT, params=changed)  # one executemany
            await session.exec(renewal)
            await session.commit()

    async def save_reply(self, user_id: str, message_id: int, content: str, status: Status,
                         error: str = '', usage: Usage | None = None, *, html: str | None = None,
                         claim: Claim | None = None) -> None:
        """Save a finished reply's text (and its rendered `html`) and final status; a no-op if it is not the
        user's (or was deleted). With `claim`, the same transaction releases that claim. (Growing text is
        `save_growing`'s.)"""
        if status == Status.STREAMING:
            raise ValueError('save_reply saves a final status; save_growing saves a streaming reply')
        values: dict[str, object] = {'content': content, 'html': html, 'status': status, 'error': error[:1000],
                                     'updated_at': utcnow()}
        if usage is not None:
            values |= {'prompt_tokens': usage.prompt_tokens, 'completion_tokens': usage.completion_tokens,
                       'usage_estimated': usage.estimated, 'first_token_ms': usage.first_token_ms,
                       'tokens_per_second': usage.tokens_per_second, 'cost': usage.cost}
        saving = update(Message).where(col(Message.id) == message_id,
                                       col(Message.conversation_id).in_(_writable_by(user_id))) \
            .execution_options(synchronize_session=False)  # no session objects to refresh: no RETURNING
        async with self.db.writing() as session:
            await session.exec(saving.values(**values))
            if claim is not None:
                await session.exec(_release(claim))
            await session.commit()

    async def interrupt_orphaned_replies(self, *, alive: set[str] | None = None) -> list[Message]:
        """Replies left 'streaming' by a process that died are marked interrupted, with what was saved.

        A reply is orphaned when no live claim covers it: its claim expired, or (given `alive`, the
        instances known to be running, as at the start of a lone instance) it belongs to none of them.
        """
        now = utcnow()
        async with self.db.writing() as session:
            live = select(ReplyClaim.message_id).where(col(ReplyClaim.lease_until) >= now)
            if alive is not None:
                live = live.where(col(ReplyClaim.instance_id).in_(alive))
            orphans = list((await session.exec(
                select(Message).where(col(Message.status) == Status.STREAMING, col(Message.id).not_in(live)))).all())
            if not orphans:
                return []
            await session.exec(update(Message).where(col(Message.id).in_([m.id for m in orphans]),
                                                      col(Message.status) == Status.STREAMING)
                               .values(status=Status.INTERRUPTED, error=INTERRUPTED_BY_SERVER))
            await session.exec(delete(ReplyClaim).where(col(ReplyClaim.message_id).in_([m.id for m in orphans])))
            await session.commit()
        for message in orphans:
            message.status, message.error = Status.INTERRUPTED, INTERRUPTED_BY_SERVER
        return orphans

    # --- export and import -------------------------------------------------------------------------

    async def read_tree(self, user_id: str, conversation_id: str) -> Tree | None:
        """The whole conversation, every branch, for anybody who may read it (as read_branch: None for anybody
        else, as for one that does not exist); its system prompt only for its owner."""
        async with self.db.session() as session:
            conversation = await _granted(session, user_id, conversation_id, READ)
            if conversation is None:
                return None
            conversation = _as_read_by(session, conversation, await _access(session, user_id, conversation))
            messages = list((await session.exec(select(Message).where(Message.conversation_id == conversation_id)
                                                .order_by(col(Message.id)))).all())
            authors = await _names(session, conversation, _authors(conversation, messages))
            attachments = await attachment_rows.shown_attachments(session, messages)
        return Tree(conversation, messages, authors, attachments)

    async def own_trees(self, user_id: str, *, before: tuple[datetime, str] | None = None,
                        limit: int = 25) -> list[Tree]:
        """A page of the person's own conversations (not those shared with them), newest first, each whole: three
        queries a page, whatever it holds (keyset: pass the last one's (updated_at, id))."""
        query = select(Conversation).where(col(Conversation.user_id) == user_id)
        if before is not None:
            query = query.where(or_(col(Conversation.updated_at) < before[0],
                                    (col(Conversation.updated_at) == before[0]) & (col(Conversation.id) < before[1])))
        query = query.order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc()).limit(inline(limit))
        async with self.db.session() as session:
            conversations = list((await session.exec(query)).all())
            if not conversations:
                return []
            messages = (await session.exec(select(Message).where(
                col(Message.conversation_id).in_([c.id for c in conversations])).order_by(col(Message.id)))).all()
            by_conversation: dict[str, list[Message]] = {}
            for message in messages:
                by_conversation.setdefault(message.conversation_id, []).append(message)
            authors = {m.author_id for m in messages if m.role == Role.USER and m.author_id}
            names = await _names(session, conversations[0], authors)  # '' is the person's own name
            attachments = await attachment_rows.shown_attachments(session, messages)
        return [Tree(c, by_conversation.get(c.id, []), names, attachments) for c in conversations]

    async def import_conversation(self, user_id: str, conversation: Conversation, messages: Sequence[Message],
                                  parents: Sequence[int | None], leaf: int | None) -> Conversation | None:
        """A conversation brought in from a file, made the person's, in one transaction: the whole of it, or on
        any failure nothing. `parents[i]` is the position in `messages` of message i's parent (an earlier one);
        `leaf` the position of the last message of the branch shown. None: the person has it already (the same
        `imported_from`, or it is their own conversation coming back), which the unique index also decides
        when two imports race."""
        conversation.user_id = user_id
        conversation.leaf_id = None
        try:
            async with self.db.writing() as session:
                if await _imported_already(session, user_id, conversation.imported_from):
                    return None
                session.add(conversation)
                await session.flush()
                ids = await _insert_tree(session, conversation.id, messages, parents)
                conversation.leaf_id = ids[leaf] if leaf is not None and ids else None
                session.add(conversation)
                await session.commit()
        except IntegrityError:  # another import of the same conversation won
            return None
        self._changed([user_id], conversation.id)
        return conversation


# the conversations whose last message is a question waiting for the model
_WAITING = select(Message.conversation_id).join(Conversation, col(Conversation.leaf_id) == col(Message.id)) \
    .where(col(Message.status) == Status.QUEUED)
INTERRUPTED_BY_SERVER = 'The server stopped while this reply was being written.'
INTERRUPTED_BY_FORK = 'Copied into this conversation while it was still being written.'
_MESSAGE = Message.__table__  # the table, not the entity: a list of parameters is then a plain executemany
# a finished reply's HTML, rendered for the first time (a reply being written keeps its own, when it ends)
_MISSING_HTML = update(_MESSAGE).where(_MESSAGE.c.id == bindparam('reply_id'), _MESSAGE.c.html.is_(None),
                                       _MESSAGE.c.status != Status.STREAMING).values(html=bindparam('html'))


async def _newest_readable(session: AsyncSession, user_id: str, condition: ColumnElement[bool] | None,
                           limit: int, shelf: Shelf = Shelf.ANYWHERE) -> list[Conversation]:
    """The newest `limit` conversations the person may read that meet `condition` and that they keep on `shelf`,
    each with the person's place: their own, read newest first along the index on (user_id, updated_at) and no
    further than needed, by the place on the conversation; those shared with them by the place on their
    membership."""
    own = select(Conversation).where(col(Conversation.user_id) == user_id, *on_shelf(Conversation, shelf))
    shared = _shared_with(user_id).where(*on_shelf(ConversationMember, shelf))
    if condition is not None:
        own, shared = own.where(condition), shared.where(condition)
    newest = (col(Conversation.updated_at).desc(), col(Conversation.id).desc())
    found = list((await session.exec(own.order_by(*newest).limit(inline(limit)))).all())
    found += [with_place(c, *place) for c, *place in
              (await session.exec(shared.order_by(*newest).limit(inline(limit)))).all()]
    found.sort(key=lambda conversation: (conversation.updated_at, conversation.id), reverse=True)
    return found[:limit]


def _shared_with(user_id: str) -> Select:
    """The conversations shared with the person, each with where they keep it."""
    return select(Conversation, *place_columns(ConversationMember)).join(
        ConversationMember, col(ConversationMember.conversation_id) == col(Conversation.id)) \
        .where(col(ConversationMember.user_id) == user_id)


async def _pinned(session: AsyncSession, user_id: str) -> list[Conversation]:
    """The conversations the person pinned, the latest pin first (archiving unpins)."""
    own = select(Conversation).where(col(Conversation.user_id) == user_id, col(Conversation.pinned_at).is_not(None),
                                     col(Conversation.archived_at).is_(None)) \
        .order_by(col(Conversation.pinned_at).desc()).limit(inline(MAX_PINNED))
    shared = _shared_with(user_id).where(col(ConversationMember.pinned_at).is_not(None),
                                         col(ConversationMember.archived_at).is_(None)) \
        .order_by(col(ConversationMember.pinned_at).desc()).limit(inline(MAX_PINNED))
    found = list((await session.exec(own)).all())
    found += [with_place(c, *place) for c, *place in (await session.exec(shared)).all()]
    found.sort(key=lambda conversation: (conversation.pinned_at, conversation.id), reverse=True)
    return found[:MAX_PINNED]


async def _filed(session: AsyncSession, user_id: str, open_folders: Collection[str] | None) -> list[FolderRows]:
    """The person's folders (by name), each with how many conversations it holds that are neither pinned nor
    archived and, where it is open, the newest FOLDER_ROWS of them: a closed folder sends no rows."""
    folders = (await session.exec(select(Folder).where(col(Folder.user_id) == user_id))).all()
    if not folders:
        return []
    rows: dict[str, list[Conversation]] = {folder.id: [] for folder in folders}
    counts = dict.fromkeys(rows, 0)
    shown = set(rows) if open_folders is None else set(rows) & set(open_folders)
    for place in (Conversation, ConversationMember):
        for folder_id, count in (await session.exec(_folder_counts(user_id, place))).all():
            if folder_id in counts:  # (a folder deleted meanwhile)
                counts[folder_id] += count
        if not shown:
            continue
        for conversation, folder_id in (await session.exec(_in_folders(user_id, place, shown))).all():
            rows[folder_id].append(conversation if place is Conversation else
                                   with_place(conversation, None, None, folder_id))
    shelves = []
    for folder in sorted(folders, key=lambda f: (f.name.casefold(), f.created_at, f.id)):
        listed = sorted(rows[folder.id], key=lambda c: (c.updated_at, c.id), reverse=True)[:FOLDER_ROWS]
        shelves.append(FolderRows(folder, listed, counts[folder.id], folder.id in shown))
    return shelves


def _filed_here(user_id: str, place: type[Conversation] | type[ConversationMember], select_: Select) -> Select:
    """`select_` narrowed to the conversations the person keeps in a folder (neither pinned nor archived), by where
    they keep them (`place`: the conversation for their own, the membership for those shared with them)."""
    select_ = select_.where(col(place.folder_id).is_not(None), col(place.pinned_at).is_(None),
                            col(place.archived_at).is_(None))
    if place is Conversation:
        return select_.where(col(Conversation.user_id) == user_id)
    return select_.join(ConversationMember, col(ConversationMember.conversation_id) == col(Conversation.id)) \
        .where(col(ConversationMember.user_id) == user_id)


def _folder_counts(user_id: str, place: type[Conversation] | type[ConversationMember]) -> Select:
    """(folder id, how many) of the person's folders, by where they keep them (as `_filed_here`)."""
    folder = col(place.folder_id)
    return _filed_here(user_id, place, select(folder, func.count()).select_from(Conversation)).group_by(folder)


def _in_folders(user_id: str, place: type[Conversation] | type[ConversationMember], folders: Collection[str]) -> Select:
    """(conversation, folder id) for the newest FOLDER_ROWS of each of `folders`, ranked within each folder in one
    window query. The rows come out of the ranking itself: joined back to the conversations, PostgreSQL would read
    every person's."""
    folder = col(place.folder_id)
    ranked = select(Conversation, folder.label('place_folder'),
                    func.row_number().over(partition_by=folder, order_by=(col(Conversation.updated_at).desc(),
                                                                          col(Conversation.id).desc())).label('rank'))
    ranked = _filed_here(user_id, place, ranked).where(folder.in_(sorted(folders))).subquery()
    return select(aliased(Conversation, ranked), ranked.c.place_folder).where(ranked.c.rank <= inline(FOLDER_ROWS))


@dataclass(frozen=True)
class _Deleted:
    members: dict[str, list[str]]  # of each conversation deleted
    blobs: set[str]  # the bytes their attachments held: dropped once nothing holds them (`_drop_unattached`)


async def _delete_conversations(session: AsyncSession, conversation_ids: list[str]) -> _Deleted:
    """Delete conversations, their messages and what those attach."""
    if not conversation_ids:
        return _Deleted({}, set())
    blobs = await attachment_rows.blobs_of(session, conversation_ids)
    await session.exec(delete(Attachment).where(col(Attachment.conversation_id).in_(conversation_ids)))
    await session.exec(delete(Message).where(col(Message.conversation_id).in_(conversation_ids)))
    members: dict[str, list[str]] = {}
    for conversation_id, member_id in (await session.exec(delete(ConversationMember).where(
            col(ConversationMember.conversation_id).in_(conversation_ids))
            .returning(col(ConversationMember.conversation_id), col(ConversationMember.user_id)))).all():
        members.setdefault(conversation_id, []).append(member_id)
    await session.exec(delete(Conversation).where(col(Conversation.id).in_(conversation_ids)))
    return _Deleted(members, blobs)


async def _own_folder(session: AsyncSession, user_id: str, folder_id: str, *, lock: bool = False) -> Folder | None:
    """The person's folder; anybody else's looks like none. `lock`: held until the transaction ends, so a folder
    being deleted meanwhile is not filled (PostgreSQL; SQLite has one writer anyway)."""
    query = select(Folder).where(col(Folder.id) == folder_id, col(Folder.user_id) == user_id)
    return (await session.exec(query.with_for_update() if lock else query)).first()


async def _place_of(session: AsyncSession, user_id: str,
                    conversation_id: str) -> Conversation | ConversationMember | None:
    """Where the person keeps a conversation they may read: on it if it is theirs, on their membership if it is
    shared with them; None for one they may not read, as for one that does not exist."""
    conversation = await _granted(session, user_id, conversation_id, READ)
    if conversation is None or conversation.user_id == user_id:
        return conversation
    return await session.get(ConversationMember, (conversation_id, user_id))


def _writable_by(user: str | BindParameter) -> CompoundSelect:
    """The conversations a person may write in: their own, and those they take part in."""
    return union(select(Conversation.id).where(col(Conversation.user_id) == user),
                 select(ConversationMember.conversation_id).where(col(ConversationMember.user_id) == user,
                                                                  col(ConversationMember.access) == Access.PARTICIPANT))


# the growing text of one reply (in a conversation the `writer` may write in, still streaming): a late save never
# undoes the final one
_GROWING_TEXT = update(_MESSAGE).where(
    _MESSAGE.c.id == bindparam('reply_id'), _MESSAGE.c.status == Status.STREAMING,
    _MESSAGE.c.conversation_id.in_(_writable_by(bindparam('writer')))) \
    .values(content=bindparam('text'), updated_at=bindparam('at'))


def _release(claim: Claim) -> Delete:
    return delete(ReplyClaim).where(col(ReplyClaim.conversation_id) == claim.conversation_id,
                                    col(ReplyClaim.instance_id) == claim.instance_id)


async def _claim(session: AsyncSession, conversation_id: str, instance_id: str, message_id: int | None, *,
                 new: bool = False) -> None:
    """Take the conversation's reply claim, expired or new; raises Busy while another one holds it.

    Both ways are atomic across processes: the takeover by a conditional update, the insert by the primary
    key (a conflict rolls back the whole transaction, so nothing of the refused exchange is stored). A `new`
    conversation has no claim to take over: one statement less while SQLite's one writer is held.
    """
    now = utcnow()
    values = {'instance_id': instance_id, 'lease_until': now + timedelta(seconds=LEASE_SECONDS),
              'message_id': message_id}
    if not new:
        taken = await session.exec(update(ReplyClaim).where(col(ReplyClaim.conversation_id) == conversation_id,
                                                            col(ReplyClaim.lease_until) < now).values(**values))
        if taken.rowcount == 1:
            return
    session.add(ReplyClaim(conversation_id=conversation_id, **values))
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Busy() from None


def _path(conversation_id: str, end: int) -> SelectOfScalar[Message]:
    """The messages from the root of the conversation's tree down to `end`, in order (a parent is always
    older than its children), as one recursive query."""
    path = select(Message.id, Message.parent_id) \
        .where(Message.id == end, Message.conversation_id == conversation_id).cte('path', recursive=True)
    parent = aliased(Message)
    path = path.union_all(select(parent.id, parent.parent_id).where(parent.id == path.c.parent_id))
    return select(Message).where(col(Message.id).in_(select(path.c.id))).order_by(col(Message.id))


def _path_ids(conversation_id: str, end: int) -> Select[tuple[int, int]]:
    """The ids and lengths of `_path`'s messages, without their text."""
    path = select(Message.id, Message.parent_id) \
        .where(Message.id == end, Message.conversation_id == conversation_id).cte('path', recursive=True)
    parent = aliased(Message)
    path = path.union_all(select(parent.id, parent.parent_id).where(parent.id == path.c.parent_id))
    return select(col(Message.id), func.length(col(Message.content)) + col(Message.attached_chars)) \
        .where(col(Message.id).in_(select(path.c.id))).order_by(col(Message.id))


@dataclass(frozen=True)
class _Window:
    path: list[int]
    lengths: list[int]
    start: int
    messages: list[Message]
    attachments: dict[int, list[ShownFile]]


async def _window(session: AsyncSession, conversation_id: str, end: int | None, pick: Pick) -> _Window:
    """The ids of the branch ending at `end`, and the messages `pick` chooses of it: a long conversation is
    read a page at a time, not whole at every open."""
    if end is None:
        return _Window([], [], 0, [], {})
    rows = (await session.exec(_path_ids(conversation_id, end))).all()
    path, lengths = [row[0] for row in rows], [row[1] or 0 for row in rows]
    start, stop = pick(path)
    messages = await _messages(session, path[start:stop])
    return _Window(path, lengths, start, messages, await attachment_rows.shown_attachments(session, messages))


async def _messages(session: AsyncSession, ids: Sequence[int]) -> list[Message]:
    if not ids:
        return []
    return list(await session.exec(select(Message).where(col(Message.id).in_(ids)).order_by(col(Message.id))))


def _fitting(path: Sequence[tuple[int, int]], budget: int) -> int:
    """Where the newest messages of a path of (id, length) that may fit in `budget` estimated tokens begin (as
    llm/prompt.py estimates them), with two more: the prompt drops a reply it would begin with. 0: all of it."""
    if budget <= 0:
        return 0
    start = len(path)
    while start > 0 and budget >= 0:
        start -= 1
        budget -= ((path[start][1] or 0) + 3) // 4 + 4
    return max(0, start - 2)


async def _siblings(session: AsyncSession, conversation_id: str, messages: Sequence[Message]) -> dict[int, list[int]]:
    """The siblings (themselves included, oldest first) of those of `messages` that have any."""
    if not messages:
        return {}
    parents = {m.parent_id for m in messages if m.parent_id is not None}
    roots = any(m.parent_id is None for m in messages)
    under = col(Message.parent_id).in_(parents) if parents else None
    if roots:
        under = col(Message.parent_id).is_(None) if under is None else or_(col(Message.parent_id).is_(None), under)
    assert under is not None
    rows = (await session.exec(select(Message.id, Message.parent_id).where(
        Message.conversation_id == conversation_id, under).order_by(col(Message.id)))).all()
    by_parent: dict[int | None, list[int]] = {}
    for message_id, parent_id in rows:
        by_parent.setdefault(parent_id, []).append(message_id)
    return {m.id: by_parent[m.parent_id] for m in messages
            if m.id is not None and len(by_parent.get(m.parent_id, ())) > 1}


async def _with_bytes(session: AsyncSession, attachment: Attachment,
                      thumbnail: bool) -> tuple[Attachment, bytes] | None:
    digest = attachment.thumbnail_sha256 if thumbnail else attachment.sha256
    blob = await session.get(Blob, digest) if digest else None
    return (attachment, blob.data) if blob is not None else None


def _fork_title(title: str) -> str:
    return title if title.endswith('(fork)') else title[:TITLE_CHARS] + ' (fork)'


COPIED_FIELDS = ('role', 'content', 'html', 'status', 'error', 'model', 'prompt_tokens', 'completion_tokens',
                 'usage_estimated', 'first_token_ms', 'tokens_per_second', 'cost', 'attached_chars', 'created_at')


def _copied(message: Message) -> dict[str, object]:
    """What a fork copies of a message; one still being written is copied as far as it was saved."""
    fields = {name: getattr(message, name) for name in COPIED_FIELDS}
    if message.status == Status.STREAMING:
        fields |= {'status': Status.INTERRUPTED, 'error': INTERRUPTED_BY_FORK, 'html': None}
    return fields


def _newest_below(conversation_id: str, message_id: int) -> SelectOfScalar[int | None]:
    """The newest message at or below `message_id`: a message is older than everything below it, so this is
    the leaf of the newest branch there."""
    below = select(Message.id).where(Message.id == message_id, Message.conversation_id == conversation_id) \
        .cte('below', recursive=True)
    child = aliased(Message)
    below = below.union_all(select(child.id).where(child.parent_id == below.c.id))
    return select(func.max(below.c.id)).having(func.count() > 0)


async def _granted(session: AsyncSession, user_id: str, conversation_id: str,
                   allowed: frozenset[Access]) -> Conversation | None:
    """The conversation, if the person may do what `allowed` names with it: the one place that decides. Its owner
    needs no second query; a member one; anybody else gets None, as for a conversation that does not exist."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    return conversation if await _access(session, user_id, conversation) in allowed else None


def _authors(conversation: Conversation, messages: Sequence[Message]) -> set[str]:
    """Who wrote the questions among `messages` (those from before authors were kept are the owner's)."""
    return {m.author_id or conversation.user_id for m in messages if m.role == Role.USER}


async def _names(session: AsyncSession, conversation: Conversation, authors: set[str]) -> dict[str, str]:
    """The names of `authors` by id, and under '' the owner's (for questions from before authors were kept)."""
    people = (await session.exec(select(User).where(col(User.id).in_(authors | {conversation.user_id})))).all()
    names = {person.id: person.name or person.email or 'Someone' for person in people}
    names[''] = names.get(conversation.user_id, 'Someone')
    return names


async def _speakers(session: AsyncSession, conversation: Conversation, messages: Sequence[Message]) -> dict[str, str]:
    """Names for a branch's questions where people reading it need them: it is shared, or several wrote in it."""
    authors = _authors(conversation, messages)
    return await _names(session, conversation, authors) if conversation.shared or len(authors) > 1 else {}


def _as_read_by(session: AsyncSession, conversation: Conversation, access: Access | None) -> Conversation:
    """The conversation as a reader may see it: its own system prompt is its owner's (the model gets it)."""
    if access != Access.OWNER and conversation.system_prompt is not None:
        session.expunge(conversation)  # changed for this reader only, never written
        conversation.system_prompt = None
    return conversation


async def _readers(session: AsyncSession, conversation: Conversation) -> list[str]:
    """Who may read the conversation: its owner, and where it is shared its members (one query more)."""
    if not conversation.shared:
        return [conversation.user_id]
    members = await session.exec(select(ConversationMember.user_id).where(
        ConversationMember.conversation_id == conversation.id))
    return [conversation.user_id, *members.all()]


async def _access(session: AsyncSession, user_id: str, conversation: Conversation) -> Access | None:
    if conversation.user_id == user_id:
        return Access.OWNER
    member = await session.get(ConversationMember, (conversation.id, user_id))
    return Access(member.access) if member is not None else None


async def _imported_already(session: AsyncSession, user_id: str, source: str | None) -> bool:
    """The person has a conversation imported from `source`; or `source` names one of their own conversations
    ('chatapp:<id>': exported here and brought back)."""
    if source is None:
        return False
    same = col(Conversation.imported_from) == source
    if source.startswith('chatapp:'):
        same = or_(same, col(Conversation.id) == source.removeprefix('chatapp:')[:36])
    found = await session.exec(select(Conversation.id).where(col(Conversation.user_id) == user_id, same).limit(1))
    return found.first() is not None


async def _insert_tree(session: AsyncSession, conversation_id: str, messages: Sequence[Message],
                       parents: Sequence[int | None]) -> list[int]:
    """Insert the messages of a tree in two statements whatever its size: all of them (ids in their order, so a
    parent's below its children's), then their parents."""
    if not messages:
        return []
    rows = [{**{name: getattr(m, name) for name in _IMPORTED_FIELDS}, 'conversation_id': conversation_id,
             'parent_id': None, 'html': None} for m in messages]
    inserted = await session.exec(insert(_MESSAGE).returning(_MESSAGE.c.id, sort_by_parameter_order=True), params=rows)
    ids = list(inserted.scalars())
    links = [{'child': ids[n], 'parent': ids[p]} for n, p in enumerate(parents) if p is not None]
    if links:
        await session.exec(_LINK_PARENT, params=links)
    return ids


_IMPORTED_FIELDS = ('role', 'author_id', 'content', 'status', 'error', 'model', 'prompt_tokens', 'completion_tokens',
                    'usage_estimated', 'first_token_ms', 'tokens_per_second', 'cost', 'created_at', 'updated_at')
_LINK_PARENT = update(_MESSAGE).where(_MESSAGE.c.id == bindparam('child')).values(parent_id=bindparam('parent'))
