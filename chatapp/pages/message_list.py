"""The messages of the branch shown, kept in step with what a ConversationView hands over: the chat page's and a
read-only link's. A long conversation shows a stretch of its branch; scrolling to either edge shows more."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from chatapp.engine import ConversationView, Earlier, Ended, Grew, Shown, ShownMessage, Trimmed, Waiting
from chatapp.models import Role
from chatapp.pages.message_rows import QuestionRow, ReplyRow, RowActions

Row = QuestionRow | ReplyRow


class MessageList:
    def __init__(self, actions: RowActions, view: ConversationView) -> None:
        self.actions = actions
        self.view = view
        self.rows: list[Row] = []  # the messages shown, in order
        self.replies: dict[int, ReplyRow] = {}
        self._loading = False
        # the edges: seen by the page (static/page.js: chatappWatchEdges), they show the next page of messages
        self.earlier = self._edge('earlier', 'Earlier messages', self.view.show_earlier)
        self.column = ui.column().classes('w-full gap-5').props('data-testid=messages')
        self.later = self._edge('later', 'Later messages', self.view.show_later)

    @staticmethod
    def watch_edges() -> None:
        """From now on, an edge in sight shows more: once the page is at the place it opens at."""
        ui.run_javascript('chatappWatchEdges()')

    def apply(self, change: Shown | Earlier | Trimmed | Grew | Waiting | Ended) -> bool:
        """Show a change; False when it was about a reply not shown (nothing changed)."""
        if isinstance(change, Shown | Earlier | Trimmed):
            self._change_rows(change)
            self.earlier.set_visibility(self.view.has_earlier)
            self.later.set_visibility(self.view.has_later)
            return True
        row = self.replies.get(change.message_id)
        if row is None:
            return False
        if isinstance(change, Grew):
            row.grow(change.text)
        elif isinstance(change, Waiting):
            row.waiting(change.text)
        else:
            row.ended(change.status, change.error, change.usage)
        return True

    def texts(self) -> list[str]:
        return [row.text if isinstance(row, QuestionRow) else row.view.text for row in self.rows]

    def attached_chars(self) -> int:
        """What the files of the questions shown add to a prompt, in characters."""
        return sum(row.attached_chars for row in self.rows if isinstance(row, QuestionRow))

    def _change_rows(self, change: Shown | Earlier | Trimmed) -> None:
        if isinstance(change, Shown):
            self._drop(self.rows[change.keep:])
            with self.column:
                self.rows += [self._show(shown) for shown in change.messages]
        elif isinstance(change, Earlier):
            with self.column:
                earlier = [self._show(shown) for shown in change.messages]
            for index, row in enumerate(earlier):
                row.row.move(target_index=index)
            self.rows[:0] = earlier
        else:
            self._drop(self.rows[len(self.rows) - change.bottom:] + self.rows[:change.top])

    def _drop(self, rows: list[Row]) -> None:
        for row in rows:
            row.delete()
            self.replies.pop(row.message_id, None)
            self.rows.remove(row)

    def _show(self, shown: ShownMessage) -> Row:
        if shown.message.role == Role.USER:
            return QuestionRow(shown, self.actions)
        row = ReplyRow(shown, self.actions)
        self.replies[row.message_id] = row
        return row

    def _edge(self, name: str, label: str, show_more: Callable[[], Awaitable[bool]]) -> ui.row:
        async def reached() -> None:
            if self._loading:
                return
            self._loading = True
            try:
                await show_more()
            finally:
                self._loading = False
            ui.run_javascript('chatappWatchEdges()')  # still in sight (short messages): the next page too
        with ui.row().classes('message-edge w-full justify-center items-center gap-2') \
                .props(f'data-edge={name} data-testid={name}') as edge:
            ui.spinner(size='1.2em')
            ui.label(label).classes('text-sm text-grey-7')
        edge.on('reach', reached)
        edge.set_visibility(False)
        return edge
