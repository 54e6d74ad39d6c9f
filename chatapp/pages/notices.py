"""A page-sized notice in place of a conversation: not found, or no longer readable."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui


def notice(icon: str, title: str, detail: str, testid: str, *, start_new: Callable[[], None] | None = None,
           hidden: bool = False) -> ui.column:
    """`start_new`: offers "Start a new chat" (not to a visitor who is not logged in)."""
    with ui.column().classes('w-full items-center gap-3 pt-24').props(f'data-testid={testid}') as column:
        ui.icon(icon, size='48px').classes('text-grey-6')
        ui.label(title).classes('text-2xl font-semibold text-center')
        ui.label(detail).classes('text-grey-7 text-center')
        if start_new is not None:
            ui.button('Start a new chat', on_click=start_new).props('unelevated no-caps')
    column.set_visibility(not hidden)
    return column


def not_found(detail: str, *, start_new: Callable[[], None] | None = None, hidden: bool = False) -> ui.column:
    """The same for a conversation that does not exist and for one the person may not read."""
    return notice('search_off', 'Conversation not found', detail, 'not-found', start_new=start_new, hidden=hidden)
