"""The messages of the branch shown, kept in step with what a ConversationView hands over: the chat page's and a
read-only link's."""

from __future__ import annotations

from nicegui import ui

from chatapp.engine import Ended, Grew, Shown, ShownMessage, Waiting
from chatapp.models import Role
from chatapp.pages.message_rows import QuestionRow, ReplyRow, RowActions


class MessageList:
    def __init__(self, actions: RowActions) -> None:
        self.actions = actions
        self.rows: list[QuestionRow | ReplyRow] = []  # the branch shown, in order
        self.replies: dict[int, ReplyRow] = {}
        self.column = ui.column().classes('w-full gap-5').props('data-testid=messages')

    def apply(self, change: Shown | Grew | Waiting | Ended) -> bool:
        """Show a change; False when it was about a reply not shown (nothing changed)."""
        if isinstance(change, Shown):
            for row in self.rows[change.keep:]:
                row.delete()
                self.replies.pop(row.message_id, None)
            del self.rows[change.keep:]
            with self.column:
                for shown in change.messages:
                    self._show(shown)
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

    def _show(self, shown: ShownMessage) -> None:
        if shown.message.role == Role.USER:
            self.rows.append(QuestionRow(shown, self.actions))
        else:
            row = ReplyRow(shown, self.actions)
            self.rows.append(row)
            self.replies[row.message_id] = row
