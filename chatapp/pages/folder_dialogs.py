"""The sidebar's folder dialogs: a folder's name (new or renamed), and what deleting a folder does with what it
holds. Each opens in `container` (the sidebar's root, which outlives the list re-drawn under it) and is gone once
answered."""

from __future__ import annotations

from nicegui import ui

from chatapp.places import FOLDER_NAME_CHARS


async def ask_folder_name(container: ui.element, title: str, action: str, value: str = '') -> str:
    """The name typed (stripped), or '' when the dialog was cancelled."""
    with container, ui.dialog() as dialog, ui.card().classes('w-96'):
        ui.label(title).classes('text-lg font-medium')
        name = ui.input(value=value, placeholder='Folder name') \
            .props(f'autofocus outlined dense maxlength={FOLDER_NAME_CHARS} data-testid=folder-name-input') \
            .classes('w-full') \
            .on('keydown', lambda: dialog.submit(name.value), js_handler='(e) => chatappSendOnEnter(e, emit)')
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat no-caps')
            ui.button(action, on_click=lambda: dialog.submit(name.value)) \
                .props('unelevated no-caps data-testid=folder-name-save')
    answer = await dialog
    dialog.delete()
    return answer.strip() if isinstance(answer, str) else ''  # the value is whatever the page sent


async def ask_delete_folder(container: ui.element, name: str, count: int) -> bool | None:
    """Whether to keep the folder's conversations (True: back to the list) or delete them with it (False); None:
    cancelled."""
    held = 'one conversation' if count == 1 else f'{count} conversations'
    with container, ui.dialog() as dialog, ui.card().classes('w-96'):
        ui.label('Delete folder?').classes('text-lg font-medium')
        ui.label(f'"{name}" holds {held}. Keep them in your list, or delete them with the folder?') \
            .classes('text-sm').style('overflow-wrap: anywhere')
        ui.label('Deleting them deletes the ones you own for good, archived ones too; conversations shared with '
                 'you only leave the folder.').classes('text-xs text-grey-7')
        with ui.row().classes('w-full justify-end gap-2 no-wrap'):
            ui.button('Cancel', on_click=lambda: dialog.submit(None)).props('flat no-caps')
            ui.button('Keep them', on_click=lambda: dialog.submit(True)) \
                .props('outline no-caps data-testid=delete-folder-keep')
            ui.button('Delete all', color='negative', on_click=lambda: dialog.submit(False)) \
                .props('unelevated no-caps data-testid=delete-folder-all')
    answer = await dialog
    dialog.delete()
    return answer if isinstance(answer, bool) else None
