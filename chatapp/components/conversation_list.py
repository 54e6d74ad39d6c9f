"""The sidebar's list of conversations: one element, whatever the number of rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC

from nicegui import ui

from chatapp.models import Conversation
from chatapp.search import SearchHit

Handler = Callable[[str], Awaitable[None] | None]


class ConversationList(ui.element, component='conversation_list.js'):
    """Rows drawn in the browser from a list of {id, title, at, shared, mine[, found]}; `open`, `rename` and
    `delete` name a row's id.

    A change re-sends the list (about 100 bytes a row) instead of creating elements: a burst of new
    conversations would make the server build rows in every tab one person has open."""

    def __init__(self, *, on_open: Handler, on_rename: Handler, on_delete: Handler) -> None:
        super().__init__()
        self._props['rows'] = ()
        self._props['active'] = ''
        self.on('open', lambda e: on_open(e.args))
        self.on('rename', lambda e: on_rename(e.args))
        self.on('delete', lambda e: on_delete(e.args))

    def show(self, conversations: Sequence[Conversation], reader_id: str,
             hits: Mapping[str, SearchHit] | None = None) -> None:
        """The rows; a shared conversation is marked, and only its owner renames or deletes it. Search results
        (`hits`) show their date and a snippet around the match."""
        # a tuple: NiceGUI leaves it as it is, where it would wrap a list and each row in an observable
        rows = tuple({'id': c.id, 'title': c.title, 'at': _epoch_ms(c), 'shared': c.shared,
                      'mine': c.user_id == reader_id} | _found(hits, c.id) for c in conversations)
        if rows != self._props['rows']:
            self._props['rows'] = rows  # the browser groups them by age, in its own time zone

    def set_active(self, conversation_id: str | None) -> None:
        active = conversation_id or ''
        if active and all(row['id'] != active for row in self._props['rows']):
            # a conversation just created is not listed yet: it arrives, marked, with the next list; sending
            # the list now as well would cost each of the person's tabs a redraw in the busiest moment
            with self._props.suspend_updates():
                self._props['active'] = active
        else:
            self._props['active'] = active


def _found(hits: Mapping[str, SearchHit] | None, conversation_id: str) -> dict:
    if hits is None:
        return {}
    hit = hits.get(conversation_id)
    return {'found': list(hit.snippet) if hit is not None and hit.snippet else []}  # [] where the title matched


def _epoch_ms(conversation: Conversation) -> int:
    return int(conversation.updated_at.replace(tzinfo=UTC).timestamp() * 1000)  # stored as naive UTC
