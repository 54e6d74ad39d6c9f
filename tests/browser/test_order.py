"""Pin, archive and folders in a real browser: the row menu (Pin, Move to, Archive), the Archived view with
Restore, folders made, renamed and deleted (keeping or deleting what they hold), rows dragged into a folder and out,
and Move to with the keyboard alone. This module has its own app; each test makes its own conversations."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Locator, Page, expect

from chatapp.db import Database
from chatapp.models import Folder
from chatapp.services import LOCAL_PROVIDER
from tests.support.chat import forge_event, notification, open_chat, sidebar_item
from tests.support.databases import run_async
from tests.support.factories import find_user, make_conversation
from tests.support.servers import App

pytestmark = pytest.mark.browser
IN_FOLDER = re.compile(r'\bin-folder\b')


def unique(text: str) -> str:
    return f'{text} {uuid.uuid4().hex[:6]}'


def seed(app: App, *titles: str, folders: tuple[str, ...] = ()) -> list[str]:
    """Conversations (the first the newest) and folders of the app's local user, written straight into its database;
    returns their ids."""
    async def write() -> list[str]:
        database = Database(f'sqlite+aiosqlite:///{app.database}')
        try:
            user = await find_user(database, LOCAL_PROVIDER)
            ids = [(await make_conversation(database, user.id, title)).id for title in reversed(titles)][::-1]
            async with database.writing() as session:
                made = [Folder(user_id=user.id, name=name) for name in folders]
                session.add_all(made)
                await session.commit()
            return ids + [folder.id for folder in made]
        finally:
            await database.close()
    return run_async(write())


def row_menu(page: Page, conversation_id: str, item: str) -> None:
    """Pick `item` (a data-testid) from a row's menu, with the mouse."""
    row = sidebar_item(page, conversation_id)
    row.hover()
    row.get_by_test_id('conversation-menu').click()
    page.get_by_test_id(item).click()


def folder(page: Page, name: str) -> Locator:
    return page.get_by_test_id('folder').filter(has_text=name)


def folder_action(page: Page, name: str, action: str) -> None:
    folder(page, name).hover()
    folder(page, name).get_by_test_id('folder-menu').click()
    page.get_by_test_id('folder-actions').get_by_text(action, exact=True).click()


def name_folder(page: Page, name: str) -> None:
    field = page.get_by_test_id('folder-name-input')
    field.fill(name)
    page.get_by_test_id('folder-name-save').click()


def test_a_pinned_conversation_goes_on_top_and_back(page: Page, app_server: App) -> None:
    older, newest = seed(app_server, unique('Newest'), unique('Pin me'))[::-1]
    open_chat(page)
    rows = page.get_by_test_id('conversation-item')
    expect(rows.first).to_have_attribute('data-id', newest)
    row_menu(page, older, 'menu-pin')
    expect(rows.first).to_have_attribute('data-id', older)
    expect(sidebar_item(page, older).get_by_test_id('pinned-mark')).to_be_visible()
    expect(page.get_by_test_id('conversation-list').get_by_text('Pinned', exact=True)).to_be_visible()
    row_menu(page, older, 'menu-pin')  # now Unpin
    expect(page.get_by_test_id('menu-pin')).to_be_hidden()
    expect(rows.first).to_have_attribute('data-id', newest)
    expect(sidebar_item(page, older).get_by_test_id('pinned-mark')).to_have_count(0)


def test_an_archived_conversation_is_found_in_the_archived_view_and_restored(page: Page, app_server: App) -> None:
    title = unique('Archive me')
    conversation_id, = seed(app_server, title)
    open_chat(page)
    row_menu(page, conversation_id, 'menu-archive')
    expect(sidebar_item(page, conversation_id)).to_have_count(0)  # out of the list

    page.get_by_test_id('search').fill(title)  # search still finds it, marked
    expect(sidebar_item(page, conversation_id).get_by_test_id('archived-mark')).to_be_visible()
    page.get_by_test_id('search').fill('')
    expect(sidebar_item(page, conversation_id)).to_have_count(0)

    page.get_by_test_id('archived-view').click()
    archived = sidebar_item(page, conversation_id)
    expect(archived).to_be_visible()
    expect(page.get_by_test_id('new-folder')).to_be_hidden()
    archived.get_by_test_id('restore').click()
    expect(archived).to_have_count(0)
    page.get_by_test_id('archived-back').click()
    expect(sidebar_item(page, conversation_id)).to_be_visible()
    expect(sidebar_item(page, conversation_id).get_by_test_id('restore')).to_have_count(0)


def test_folders_are_made_filled_by_drag_and_drop_renamed_and_deleted(page: Page, app_server: App) -> None:
    kept_title, gone_title = unique('Keep me'), unique('Delete me')
    kept, gone = seed(app_server, kept_title, gone_title)
    name = unique('Projects')
    open_chat(page)
    page.get_by_test_id('new-folder').click()
    name_folder(page, name)
    expect(folder(page, name).get_by_test_id('folder-count')).to_have_text('0')

    sidebar_item(page, kept).drag_to(folder(page, name))
    expect(folder(page, name).get_by_test_id('folder-count')).to_have_text('1')
    expect(sidebar_item(page, kept)).to_have_class(IN_FOLDER)  # the folder opened to show it
    sidebar_item(page, kept).drag_to(sidebar_item(page, gone))  # dropped on the list: out of the folder
    expect(sidebar_item(page, kept)).not_to_have_class(IN_FOLDER)
    expect(folder(page, name).get_by_test_id('folder-count')).to_have_text('0')
    sidebar_item(page, kept).drag_to(folder(page, name))
    expect(sidebar_item(page, kept)).to_have_class(IN_FOLDER)
    sidebar_item(page, gone).drag_to(sidebar_item(page, kept))  # dropped on a row in the folder: into it
    expect(folder(page, name).get_by_test_id('folder-count')).to_have_text('2')

    renamed = unique('Renamed <b>not bold</b>')
    folder_action(page, name, 'Rename')
    name_folder(page, renamed)
    expect(folder(page, renamed)).to_be_visible()
    expect(folder(page, renamed).locator('b')).to_have_count(0)  # people's text is text

    folder(page, renamed).click()  # closed: its rows go
    expect(sidebar_item(page, kept)).to_have_count(0)
    folder(page, renamed).click()
    folder_action(page, renamed, 'Delete')
    page.get_by_test_id('delete-folder-keep').click()
    expect(folder(page, renamed)).to_have_count(0)
    for conversation_id in (kept, gone):  # back in the list
        expect(sidebar_item(page, conversation_id)).not_to_have_class(IN_FOLDER)

    other = unique('Trash')
    row_menu(page, gone, 'menu-move')
    page.get_by_test_id('move-to-new').click()
    name_folder(page, other)
    expect(folder(page, other).get_by_test_id('folder-count')).to_have_text('1')
    expect(sidebar_item(page, gone)).to_have_class(IN_FOLDER)
    folder_action(page, other, 'Delete')
    page.get_by_test_id('delete-folder-all').click()
    expect(folder(page, other)).to_have_count(0)
    expect(sidebar_item(page, gone)).to_have_count(0)  # deleted with it
    page.goto(f'/c/{gone}')
    expect(page.get_by_text('Conversation not found')).to_be_visible()
    expect(sidebar_item(page, kept)).to_be_visible()


def test_move_to_works_with_the_keyboard_alone(page: Page, app_server: App) -> None:
    title, name = unique('By keyboard'), unique('Keys')
    conversation_id, folder_id = seed(app_server, title, folders=(name,))
    open_chat(page)
    row = sidebar_item(page, conversation_id)
    row.focus()  # where Tab reaches it
    page.keyboard.press('Tab')
    expect(row.get_by_test_id('conversation-menu')).to_be_focused()
    page.keyboard.press('Enter')  # the row's menu, at its first item
    expect(page.get_by_test_id('menu-pin')).to_be_focused()
    page.keyboard.press('ArrowDown')
    expect(page.get_by_test_id('menu-move')).to_be_focused()
    page.keyboard.press('Enter')  # the folders, No folder, New folder…
    expect(page.get_by_test_id('move-to-new')).to_be_visible()
    target = page.get_by_test_id('move-to-folder').filter(has_text=name)
    expect(page.get_by_test_id('move-to-folder').first).to_be_focused()
    for _ in range(page.get_by_test_id('move-to-folder').count()):
        if target.evaluate('(item) => item === document.activeElement'):
            break
        page.keyboard.press('ArrowDown')
    expect(target).to_be_focused()
    page.keyboard.press('Enter')
    expect(page.get_by_test_id('move-menu')).to_be_hidden()
    expect(page.get_by_test_id('row-menu')).to_be_hidden()
    expect(folder(page, name).get_by_test_id('folder-count')).to_have_text('1')
    expect(row).to_have_class(IN_FOLDER)
    expect(page.locator(f'[data-folder="{folder_id}"]')).to_have_attribute('aria-expanded', 'true')

    row.focus()
    page.keyboard.press('Shift+F10')  # the menu from the row itself
    expect(page.get_by_test_id('menu-move')).to_be_visible()
    page.keyboard.press('Escape')
    expect(page.get_by_test_id('menu-move')).to_be_hidden()
    folder(page, name).focus()
    page.keyboard.press('Enter')  # a folder closes and opens from the keyboard
    expect(row).to_have_count(0)
    page.keyboard.press('Enter')
    expect(row).to_be_visible()


def test_forged_events_change_nothing(page: Page, app_server: App) -> None:
    conversation_id, folder_id = seed(app_server, unique('Forged'), folders=(unique('Mine'),))
    open_chat(page)
    expect(sidebar_item(page, conversation_id)).to_be_visible()
    for event, args in (('pin', [conversation_id]), ('pin', [conversation_id, 'yes']), ('pin', ['x' * 100, True]),
                        ('archive', {'id': conversation_id}), ('move', [conversation_id, 'a b']),
                        ('move', [conversation_id, 7]), ('move', [['nested'], folder_id]), ('move_new', 12),
                        ('rename_folder', ['list']), ('delete_folder', None), ('open', ['x'])):
        forge_event(page, 'conversation-list', event, args)
    forge_event(page, 'conversation-list', 'move', [conversation_id, str(uuid.uuid4())])  # nobody's folder
    expect(notification(page)).to_contain_text('does not exist')
    expect(sidebar_item(page, conversation_id)).not_to_have_class(IN_FOLDER)
    expect(sidebar_item(page, conversation_id).get_by_test_id('pinned-mark')).to_have_count(0)
