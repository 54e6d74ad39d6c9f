"""A conversation shared by several people, in a real browser, each logged in through the OIDC provider: the owner
brings in a participant and a viewer, both see it live, the participant writes and everybody sees it with his
name, the model's reply streams on every page, who is there and who is typing shows, the viewer only reads, a
message sent while the model answers waits its turn, and taking someone out shows at once."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.chat import (
    composer,
    forge_event,
    notification,
    replies,
    reply_md,
    send,
    sidebar_item,
    user_bubbles,
    wait_finished,
    wait_streaming,
)
from tests.support.oidc import log_in
from tests.support.servers import App

pytestmark = pytest.mark.browser


def share(page: Page, name: str, role: str) -> None:
    page.locator('input[data-testid=share-search]').fill(name)
    page.get_by_test_id('share-result').filter(has_text=name.title()).get_by_test_id(f'share-add-{role}').click()
    expect(page.get_by_test_id('share-member').filter(has_text=name.title())).to_be_visible()


def test_three_people_share_one_conversation_with_the_model(start_app: Callable[..., App],
                                                            new_context: Callable[[], BrowserContext]) -> None:
    app = start_app()
    alice, bob, carol, dave = (new_context().new_page() for _ in range(4))
    for page, login in ((alice, 'alice'), (bob, 'bob'), (carol, 'carol'), (dave, 'dave')):
        log_in(page, app, f'{login}@example.com')  # people are found once they have logged in

    send(alice, 'What does our schema look like?')
    alice.wait_for_url(re.compile(r'/c/[0-9a-f-]{36}$'))
    conversation_id = alice.url.rsplit('/', 1)[1]
    wait_finished(replies(alice).first)
    expect(alice.get_by_test_id('message-author')).to_have_count(0)  # one person: no names

    alice.get_by_test_id('share-button').click()
    share(alice, 'bob', 'participant')
    share(alice, 'carol', 'viewer')
    alice.get_by_test_id('share-done').click()

    expect(sidebar_item(bob, conversation_id)).to_be_visible()  # live, without a reload
    expect(sidebar_item(bob, conversation_id).get_by_test_id('shared-mark')).to_be_visible()
    sidebar_item(bob, conversation_id).get_by_test_id('conversation-menu').click()  # his own Pin, Move to, Archive
    expect(bob.get_by_test_id('menu-archive')).to_be_visible()
    expect(bob.get_by_test_id('row-menu').get_by_text('Rename')).to_have_count(0)  # the owner's only
    expect(bob.get_by_test_id('row-menu').get_by_text('Delete')).to_have_count(0)
    bob.keyboard.press('Escape')
    sidebar_item(bob, conversation_id).click()
    bob.wait_for_url(f'**/c/{conversation_id}')
    carol.goto(f'{app.url}/c/{conversation_id}')
    alice.reload()

    expect(carol.get_by_test_id('reader-note')).to_be_visible()  # the viewer reads only
    expect(carol.get_by_test_id('composer')).to_be_hidden()
    expect(carol.get_by_test_id('regenerate')).to_be_hidden()
    expect(carol.get_by_test_id('share-button')).to_be_hidden()

    expect(alice.get_by_test_id('present')).to_have_count(2)  # Bob and Carol have it open
    composer(bob).fill('Bob here')
    expect(alice.get_by_test_id('typing')).to_have_text('Bob is typing…')
    expect(carol.get_by_test_id('typing')).to_have_text('Bob is typing…')

    send(bob, 'Bob here: which table holds the invoices?')
    for page in (alice, bob, carol):
        expect(user_bubbles(page)).to_have_count(2)
        expect(page.get_by_test_id('message-author')).to_have_text(['Alice', 'Bob'])
        row = replies(page).nth(1)
        wait_finished(row)
        # the demo model quotes the prompt's last question: it names who asked
        expect(reply_md(row)).to_contain_text('Bob: Bob here: which table holds the invoices?')

    send(alice, 'Alice again: and the customers?')
    expect(replies(bob).nth(2)).to_have_class(re.compile(r'\bstreaming\b'))
    send(bob, 'Bob too, while it answers')  # not refused: it waits its turn
    for page in (alice, bob, carol):
        expect(user_bubbles(page)).to_have_count(4)
        expect(replies(page)).to_have_count(4)
        wait_finished(replies(page).nth(3))
        expect(reply_md(replies(page).nth(3))).to_contain_text('Bob: Bob too, while it answers')

    alice.get_by_test_id('conversation-settings').click()  # where several write, the owner decides when it answers
    expect(alice.get_by_test_id('model-answers')).to_be_visible()
    alice.get_by_test_id('settings-cancel').click()

    dave.goto(f'{app.url}/c/{conversation_id}')  # not a member: it does not exist for him
    expect(dave.get_by_test_id('not-found')).to_be_visible()

    alice.get_by_test_id('share-button').click()
    alice.get_by_test_id('share-member').filter(has_text='Bob').get_by_test_id('share-remove').click()
    expect(alice.get_by_test_id('share-member').filter(has_text='Bob')).to_have_count(0)
    expect(bob.get_by_test_id('lost-access')).to_be_visible()  # at once, on his open page
    expect(alice.get_by_test_id('present')).to_have_count(1)  # he is gone: only Carol is there
    expect(bob.get_by_test_id('messages')).to_be_hidden()
    expect(sidebar_item(bob, conversation_id)).to_have_count(0)
    bob.goto(f'{app.url}/c/{conversation_id}')
    expect(bob.get_by_test_id('not-found')).to_be_visible()
    expect(user_bubbles(carol)).to_have_count(4)  # the viewer keeps reading

    alice.get_by_test_id('share-done').click()
    dave.goto(app.url + make_link(alice, 'live'))  # a link names who wrote, to a reader on the team
    expect(dave.get_by_test_id('message-author')).to_have_text(['Alice', 'Bob', 'Alice', 'Bob'])


def test_what_a_role_does_not_offer_cannot_be_forged_over_the_socket(start_app: Callable[..., App],
                                                                     new_context: Callable[[], BrowserContext]
                                                                     ) -> None:
    """A page's script can send any event for any element the page holds: a viewer's Send and Stop, a viewer's
    and a participant's Delete and Rename from the sidebar. Nothing of it reaches the conversation; the owner's
    tools (model, instructions, sharing) are not on their pages at all."""
    app = start_app()
    alice, bob, carol = (new_context().new_page() for _ in range(3))
    for page, login in ((alice, 'alice'), (bob, 'bob'), (carol, 'carol')):
        log_in(page, app, f'{login}@example.com')
    send(alice, 'Our schema')
    alice.wait_for_url(re.compile(r'/c/[0-9a-f-]{36}$'))
    conversation_id = alice.url.rsplit('/', 1)[1]
    wait_finished(replies(alice).first)
    alice.get_by_test_id('share-button').click()
    share(alice, 'bob', 'participant')
    share(alice, 'carol', 'viewer')
    alice.get_by_test_id('share-done').click()
    expect(sidebar_item(alice, conversation_id).get_by_test_id('shared-mark')).to_be_visible()  # the owner's too
    for page in (bob, carol):
        page.goto(f'{app.url}/c/{conversation_id}')
        expect(user_bubbles(page)).to_have_count(1)
        for tool in ('share-button', 'conversation-settings', 'model-picker'):
            expect(page.get_by_test_id(tool)).to_have_count(0)

    forge_event(carol, 'composer', 'update:value', 'Carol forges a message')
    forge_event(carol, 'send', 'click')
    expect(notification(carol)).to_contain_text('not write')
    send(alice, 'Alice asks again')
    wait_streaming(replies(carol).nth(1))
    forge_event(carol, 'stop', 'click')
    for page in (bob, carol):
        forge_event(page, 'conversation-list', 'delete', conversation_id)
        forge_event(page, 'conversation-list', 'rename', conversation_id)
    wait_finished(replies(alice).nth(1))
    expect(replies(alice).nth(1)).not_to_contain_text('Stopped')  # the viewer's Stop did nothing
    for page in (bob, carol):
        expect(page.get_by_test_id('confirm-delete')).to_have_count(0)
        expect(page.get_by_test_id('rename-input')).to_have_count(0)
    forge_event(alice, 'conversation-list', 'rename', conversation_id)  # the same event from the owner's page
    expect(alice.get_by_test_id('rename-input')).to_be_visible()  # does reach the handler
    alice.reload()
    expect(user_bubbles(alice)).to_have_text(['Our schema', 'Alice asks again'])
    expect(sidebar_item(alice, conversation_id)).to_contain_text('Our schema')


def make_link(page: Page, kind: str) -> str:
    """A read-only link from the sharing dialog ('now' or 'live'); its path."""
    page.get_by_test_id('share-button').click()
    links = page.get_by_test_id('share-link')
    before = links.count()
    page.get_by_test_id(f'link-{kind}').click()
    expect(links).to_have_count(before + 1)
    path = links.last.get_attribute('data-path')
    page.get_by_test_id('share-done').click()
    return path


def test_a_read_only_link_is_read_continued_as_a_copy_and_revoked(start_app: Callable[..., App],
                                                                  new_context: Callable[[], BrowserContext]) -> None:
    app = start_app()
    alice, dave = new_context().new_page(), new_context().new_page()
    log_in(alice, app, 'alice@example.com')
    log_in(dave, app, 'dave@example.com')
    send(alice, 'How do we deploy?')
    alice.wait_for_url(re.compile(r'/c/[0-9a-f-]{36}$'))
    wait_finished(replies(alice).first)
    live = make_link(alice, 'live')

    dave.goto(app.url + live)  # on the team, not a member: reads it
    expect(dave.get_by_test_id('link-note')).to_contain_text('live')
    expect(user_bubbles(dave)).to_have_text(['How do we deploy?'])
    expect(dave.get_by_test_id('composer')).to_have_count(0)
    send(alice, 'And roll back?')
    expect(user_bubbles(dave)).to_have_text(['How do we deploy?', 'And roll back?'])  # live
    wait_finished(replies(dave).nth(1))

    alice.get_by_test_id('share-button').click()
    expect(alice.get_by_test_id('share-link').first.get_by_test_id('link-opened')).not_to_contain_text('never')
    alice.get_by_test_id('share-link').first.get_by_test_id('link-revoke').click()
    expect(alice.get_by_test_id('share-link')).to_have_count(0)
    alice.get_by_test_id('share-done').click()
    expect(dave.get_by_test_id('not-found')).to_be_visible()  # at the next change it reads

    snapshot = make_link(alice, 'now')
    dave.goto(app.url + snapshot)
    expect(user_bubbles(dave)).to_have_count(2)
    dave.get_by_test_id('continue-copy').click()
    dave.wait_for_url(re.compile(r'/c/[0-9a-f-]{36}$'))
    expect(user_bubbles(dave)).to_have_text(['How do we deploy?', 'And roll back?'])
    expect(dave.get_by_test_id('composer')).to_be_visible()  # his own now

    dave.goto(app.url + live)
    expect(dave.get_by_test_id('not-found')).to_be_visible()


def test_links_need_a_login_unless_the_setting_opens_them(start_app: Callable[..., App],
                                                          new_context: Callable[[], BrowserContext]) -> None:
    for public in ('0', '1'):
        app = start_app(CHATAPP_PUBLIC_LINKS=public)
        alice, visitor = new_context().new_page(), new_context().new_page()
        log_in(alice, app, 'alice@example.com')
        send(alice, 'A demo question')
        alice.wait_for_url(re.compile(r'/c/[0-9a-f-]{36}$'))
        wait_finished(replies(alice).first)
        visitor.goto(app.url + make_link(alice, 'now'))  # not logged in
        if public == '0':
            visitor.wait_for_url(re.compile(r'/login'))
            continue
        expect(user_bubbles(visitor)).to_have_text(['A demo question'])
        expect(visitor.get_by_test_id('new-chat')).to_have_count(0)  # nothing but the conversation
        expect(visitor.get_by_test_id('logout')).to_have_count(0)
        expect(visitor.get_by_test_id('fork')).to_have_count(0)
