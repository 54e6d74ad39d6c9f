"""The sidebar's list of conversations: one element, whatever the number of rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

from nicegui import ui

from chatapp.models import Conversation, Folder
from chatapp.search import SearchHit

Handler = Callable[[object], Awaitable[None] | None]  # gets the event's arguments, as the page sent them
EVENTS = ('open', 'rename', 'delete', 'pin', 'archive', 'move', 'move_new', 'rename_folder', 'delete_folder',
          'folders_open')


class ConversationList(ui.element, component='conversation_list.js'):
    """Rows drawn in the browser from a list of {id, title, at, shared, mine[, pinned, folder, archived, found]}
    and the person's folders [{id, name, count}]. Its events (EVENTS) carry what the page says: a row's or a
    folder's id, or [id, flag] / [id, folder id or ''] (pin, archive, move); handlers check them all, as a
    page's script can send anything.

    A change re-sends the list (about 100 bytes a row) instead of creating elements: a burst of new
    conversations would make the server build rows in every tab one person has open."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        super().__init__()
        self._props['rows'] = ()
        self._props['folders'] = ()
        self._props['active'] = ''
        for event in EVENTS:
            self.on(event, lambda e, handler=handlers[event]: handler(e.args))

    def show(self, conversations: Sequence[Conversation], reader_id: str,
             hits: Mapping[str, SearchHit] | None = None, folders: Sequence[tuple[Folder, int, bool]] = ()) -> None:
        """The rows, each where the reader keeps it; a shared conversation is marked, and only its owner renames
        or deletes it. Search results (`hits`) show their date and a snippet around the match. `folders`: the
        reader's, with how many conversations each lists and whether its rows were read (it is open)."""
        # tuples: NiceGUI leaves them as they are, where it would wrap a list and each row in an observable
        rows = tuple(_row(c, reader_id) | _found(hits, c.id) for c in conversations)
        shelves = tuple({'id': folder.id, 'name': folder.name, 'count': count, 'loaded': loaded}
                        for folder, count, loaded in folders)
        # both in one update: the element is sent whole, once per pass, whatever changed
        if rows != self._props['rows']:
            self._props['rows'] = rows  # the browser groups them by age, in its own time zone
        if shelves != self._props['folders']:
            self._props['folders'] = shelves

    def reveal(self, folder_id: str) -> None:
        """Open the folder (once it is listed): a conversation went there."""
        self.run_method('reveal', folder_id)

    def set_active(self, conversation_id: str | None) -> None:
        active = conversation_id or ''
        if active and all(row['id'] != active for row in self._props['rows']):
            # a conversation just created is not listed yet: it arrives, marked, with the next list; sending
            # the list now as well would cost each of the person's tabs a redraw in the busiest moment
            with self._props.suspend_updates():
                self._props['active'] = active
        else:
            self._props['active'] = active


def _row(conversation: Conversation, reader_id: str) -> dict:
    """A row, with only the marks of where the reader keeps it that apply (most rows have none)."""
    row = {'id': conversation.id, 'title': conversation.title, 'at': _epoch_ms(conversation.updated_at),
           'shared': conversation.shared, 'mine': conversation.user_id == reader_id}
    if conversation.pinned_at is not None:
        row['pinned'] = True
    if conversation.folder_id is not None:
        row['folder'] = conversation.folder_id
    if conversation.archived_at is not None:
        row['archived'] = True
    return row


def _found(hits: Mapping[str, SearchHit] | None, conversation_id: str) -> dict:
    if hits is None:
        return {}
    hit = hits.get(conversation_id)
    return {'found': list(hit.snippet) if hit is not None and hit.snippet else []}  # [] where the title matched


def _epoch_ms(at: datetime) -> int:
    return int(at.replace(tzinfo=UTC).timestamp() * 1000)  # stored as naive UTC
