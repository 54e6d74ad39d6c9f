"""A login made on one instance holds on the other, and so does a logout.

The cluster of test_two_instances.py (two instances from the unit and env file, nginx from the template,
PostgreSQL, Redis), but with a login: the test OpenID Connect provider (tests/oidc) on loopback, a client
registered for nginx's address (CHATAPP_PUBLIC_URL). The login lives in NiceGUI's user storage, which
REDIS_URL puts in Redis; the browser holds only the session cookie, signed with the shared storage secret.

One browser profile signs in at the provider through nginx pinned to the first instance by its route cookie;
then its route cookie is changed, so nginx sends the same profile (the same session cookie) to the second one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.browser import close_contexts
from tests.support.chat import connected, replies, send, send_new, sidebar_item, user_bubbles, wait_finished
from tests.support.cluster import Cluster, new_context, served_only_by, set_route
from tests.support.oidc import OIDCProvider, keep_to_loopback, log_in
from tests.support.servers import LLMock

pytestmark = pytest.mark.browser

FIRST_QUESTION = 'Written on the first instance'


@pytest.fixture(scope='module')
def cluster_login(oidc_provider: OIDCProvider) -> OIDCProvider:
    """This module's cluster requires a login, through the test provider."""
    return oidc_provider


@pytest.fixture
def profile(browser: Browser, running: Cluster, request: pytest.FixtureRequest,
            tmp_path: Path) -> Iterator[BrowserContext]:
    """A browser profile pinned to the first instance that reaches nothing beyond loopback (the provider's
    sign-in page asks for web fonts)."""
    context = new_context(browser, running, running.route(0))
    keep_to_loopback(context)
    try:
        yield context
    finally:
        close_contexts([context], request, tmp_path)


def logged_out(page: Page, cluster: Cluster) -> None:
    expect(page).to_have_url(re.compile(re.escape(cluster.url) + r'/login(\?.*)?$'))


def test_a_login_on_one_instance_holds_on_the_other_and_so_does_its_logout(running: Cluster, profile: BrowserContext,
                                                                           llm: LLMock) -> None:
    first = profile.new_page()
    log_in(first, running, 'alice@example.com')  # the provider's callback reaches the first instance
    connected(first)
    expect(first.locator('[data-testid=user-name]')).to_have_text('Alice')
    llm.reply('Noted, on the first instance.')
    conversation_id = send_new(first, FIRST_QUESTION)
    wait_finished(replies(first).last)

    set_route(profile, running, running.route(1))  # same session cookie, now to the second instance
    second = profile.new_page()
    second.goto('/')
    assert second.url == running.url + '/', 'the second instance did not know the login made on the first'
    connected(second)  # the chat and its composer
    expect(second.locator('[data-testid=user-name]')).to_have_text('Alice')
    expect(sidebar_item(second, conversation_id)).to_contain_text(FIRST_QUESTION)
    sidebar_item(second, conversation_id).click()
    second.wait_for_url(f'{running.url}/c/{conversation_id}')
    expect(user_bubbles(second)).to_have_text([FIRST_QUESTION])

    second.click('[data-testid=logout]')  # on the second instance
    second.click('button[value=yes]')  # the provider's own "sign out?" page: its session ends too
    logged_out(second, running)
    second.goto(f'/c/{conversation_id}')
    logged_out(second, running)

    # the first instance knows: its open page leaves at once (the logout is announced over Redis), and a
    # new page goes to the login
    first.wait_for_url(re.compile(re.escape(running.url) + r'/login\?logged_out=1$'))
    set_route(profile, running, running.route(0))
    third = profile.new_page()
    third.goto(f'/c/{conversation_id}')
    logged_out(third, running)

    for page in (first, second, third):
        page.close()
    served_only_by(running, 0)
    served_only_by(running, 1)


def share(page: Page, name: str, role: str) -> None:
    page.locator('input[data-testid=share-search]').fill(name)
    page.get_by_test_id('share-result').filter(has_text=name.title()).get_by_test_id(f'share-add-{role}').click()
    expect(page.get_by_test_id('share-member').filter(has_text=name.title())).to_be_visible()


def test_a_conversation_shared_across_instances_is_live_on_every_page(browser: Browser, running: Cluster,
                                                                      llm: LLMock, request: pytest.FixtureRequest,
                                                                      tmp_path: Path) -> None:
    """alice (first instance) shares with bob (participant, second) and carol (viewer, first), and dave (second)
    follows a live link: the sidebars, who is there and typing, the messages, the replies streamed by the other
    instance, and taking bob out all cross between the instances (over Redis)."""
    contexts = [new_context(browser, running, running.route(index)) for index in (0, 1, 0, 1)]
    for context in contexts:
        keep_to_loopback(context)
    try:
        alice, bob, carol, dave = (context.new_page() for context in contexts)
        for page, login in ((alice, 'alice'), (bob, 'bob'), (carol, 'carol'), (dave, 'dave')):
            log_in(page, running, f'{login}@example.com')
        llm.reply('The first answer.')
        conversation_id = send_new(alice, 'Across instances')
        wait_finished(replies(alice).last)
        llm.reply("Bob's own answer.")
        own_id = send_new(bob, "Bob's own conversation")  # newer: his sidebar lists it first
        wait_finished(replies(bob).last)

        alice.get_by_test_id('share-button').click()
        share(alice, 'bob', 'participant')
        share(alice, 'carol', 'viewer')
        alice.get_by_test_id('link-live').click()
        expect(alice.get_by_test_id('share-link')).to_have_count(1)
        link = alice.get_by_test_id('share-link').first.get_attribute('data-path')
        alice.get_by_test_id('share-done').click()
        expect(sidebar_item(bob, conversation_id)).to_be_visible()  # heard on the other instance
        expect(bob.get_by_test_id('conversation-item').first).to_have_attribute('data-id', own_id)

        llm.reply('Second answer, from the first instance.')
        send(alice, 'Alice again')  # it moves up in bob's sidebar, on the other instance
        expect(bob.get_by_test_id('conversation-item').first).to_have_attribute('data-id', conversation_id)
        wait_finished(replies(alice).last)
        sidebar_item(bob, conversation_id).click()
        bob.wait_for_url(f'{running.url}/c/{conversation_id}')
        carol.goto(f'{running.url}/c/{conversation_id}')
        dave.goto(running.url + link)
        expect(user_bubbles(dave)).to_have_text(['Across instances', 'Alice again'])
        alice.reload()
        expect(alice.get_by_test_id('present')).to_have_count(2)  # bob on the other instance, carol on this one
        bob.get_by_test_id('composer').fill('Bob is')
        expect(carol.get_by_test_id('typing')).to_have_text('Bob is typing…')

        llm.reply('Answered for Bob, from the second instance.')
        send(bob, 'Bob from the second instance')
        for page in (alice, bob, carol, dave):
            expect(user_bubbles(page)).to_have_text(['Across instances', 'Alice again', 'Bob from the second instance'])
            expect(replies(page).last).to_contain_text('Answered for Bob, from the second instance.')
        expect(carol.get_by_test_id('message-author')).to_have_text(['Alice', 'Alice', 'Bob'])
        assert llm.requests()[-1]['body']['messages'][-1]['content'] == 'Bob: Bob from the second instance'
        expect(carol.get_by_test_id('composer')).to_be_hidden()  # a viewer, on either instance

        alice.get_by_test_id('share-button').click()
        alice.get_by_test_id('share-member').filter(has_text='Bob').get_by_test_id('share-remove').click()
        expect(bob.get_by_test_id('lost-access')).to_be_visible()
        expect(sidebar_item(bob, conversation_id)).to_have_count(0)
        alice.get_by_test_id('share-link').first.get_by_test_id('link-revoke').click()
        expect(dave.get_by_test_id('not-found')).to_be_visible()  # revoked on the other instance
    finally:
        close_contexts(contexts, request, tmp_path)
