"""Where each person keeps a conversation: pinned, archived, in one of their folders. Its owner's place is on the
conversation, a member's on their membership (the same three columns), so each person keeps their own order.

Who may read what stays the store's to decide: these are the parts of its queries, and what they return.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from chatapp.models import Conversation, ConversationMember, Folder
from chatapp.text import clean

FOLDER_NAME_CHARS = 100
MAX_FOLDERS = 200  # a person's: a forged page could otherwise make folders without end
MAX_PINNED = 100  # pins are a handful; a bound keeps every sidebar reload small whatever a page sends
FOLDER_ROWS = 100  # of each folder, the newest; search finds the rest

Place = type[Conversation] | type[ConversationMember]


class Shelf(StrEnum):
    """Which of a person's conversations a listing holds, by where the person keeps each."""
    LISTED = 'listed'  # the sidebar's list: neither pinned, nor filed, nor archived
    ARCHIVED = 'archived'
    ANYWHERE = 'anywhere'  # search


@dataclass(frozen=True)
class FolderRows:
    folder: Folder
    conversations: list[Conversation]  # its newest (up to FOLDER_ROWS), neither pinned nor archived; [] if closed
    count: int  # all it holds that are neither pinned nor archived
    loaded: bool = True  # its conversations were read (it is open)


@dataclass(frozen=True)
class Shelves:
    """A person's sidebar: pinned conversations on top, their folders, then the rest newest first (a page)."""
    pinned: list[Conversation]
    folders: list[FolderRows]
    recent: list[Conversation]


def on_shelf(place: Place, shelf: Shelf) -> list[ColumnElement[bool]]:
    """The conditions on `place`'s columns (the conversation's for its owner, the membership's for a member)."""
    if shelf == Shelf.ARCHIVED:
        return [col(place.archived_at).is_not(None)]
    if shelf == Shelf.LISTED:
        return [col(place.archived_at).is_(None), col(place.pinned_at).is_(None), col(place.folder_id).is_(None)]
    return []


def place_columns(place: Place) -> tuple[ColumnElement, ...]:
    return col(place.pinned_at), col(place.archived_at), col(place.folder_id)


def with_place(conversation: Conversation, pinned_at: datetime | None, archived_at: datetime | None,
               folder_id: str | None) -> Conversation:
    """A shared conversation as its member keeps it: their place instead of its owner's. Set as if loaded, so no
    session ever writes it back to the conversation."""
    for name, value in (('pinned_at', pinned_at), ('archived_at', archived_at), ('folder_id', folder_id)):
        set_committed_value(conversation, name, value)
    return conversation


def folder_name(name: str) -> str:
    """A folder's name as stored: one line, its spaces collapsed, at most FOLDER_NAME_CHARS ('' refuses it)."""
    return ' '.join(clean(name).split())[:FOLDER_NAME_CHARS]
