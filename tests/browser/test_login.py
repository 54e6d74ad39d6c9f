"""Login in a real browser through a real OpenID Connect provider on loopback: where a logged-out visit
goes, who sees what, who is refused, what tampering gets, what expiry and logout do."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.oidc import OIDCProvider, log_in, sign_in_at_provider
from tests.support.servers import App

pytestmark = pytest.mark.browser

COMPOSER = 'textarea[data-testid=composer], [data-testid=composer] textarea'
DEMO_REPLY_END = 'Any OpenAI-compatible endpoint works'


def send(page: Page, text: str) -> None:
    page.locator(COMPOSER).fill(text)
    page.click('[data-testid=send]')


def start_conversation(page: Page, app: App, text: str) -> str:
    """Send the first message of a new conversation, wait for the reply, return the conversation's id."""
    send(page, text)
    page.wait_for_url(re.compile(re.escape(app.url) + r'/c/[0-9a-f-]{36}$'))
    expect(page.locator('[data-testid=message-assistant]').last).to_contain_text(DEMO_REPLY_END)
    return page.url.rsplit('/', 1)[1]


def test_logged_out_visit_goes_to_login_and_back(start_app: Callable[..., App], oidc_provider: OIDCProvider,
                                                 new_context: Callable[[], BrowserContext]) -> None:
    app = start_app()
    first = new_context().new_page()
    log_in(first, app, 'alice@example.com')
    expect(first.locator('[data-testid=user-name]')).to_have_text('Alice')
    conversation_id = start_conversation(first, app, 'Where did we park the budget?')

    page = new_context().new_page()  # another browser, logged out
    page.goto(f'{app.url}/c/{conversation_id}')
    assert page.url == f'{app.url}/login?next=' + quote(f'/c/{conversation_id}', safe='')
    page.click('[data-testid=login-oidc]')
    sign_in_at_provider(page, 'alice@example.com')
    page.wait_for_url(f'{app.url}/c/{conversation_id}')
    expect(page.locator('[data-testid=message-user]')).to_have_text(['Where did we park the budget?'])

    people = [user for user in app.users() if user['provider'] != 'local']
    assert [(u['subject'], u['email'], u['name']) for u in people] == [('alice@example.com', 'alice@example.com',
                                                                         'Alice')]
    assert people[0]['provider'] == oidc_provider.issuer  # users are keyed by (issuer, subject)


def test_another_users_conversation_does_not_exist_for_them(start_app: Callable[..., App],
                                                           new_context: Callable[[], BrowserContext]) -> None:
    app = start_app()
    alice = new_context().new_page()
    log_in(alice, app, 'alice@example.com')
    secret_id = start_conversation(alice, app, 'Salary review notes')

    bob = new_context().new_page()
    log_in(bob, app, 'bob@example.com')
    own_id = start_conversation(bob, app, 'Bob has his own chat')
    items = bob.locator('[data-testid=conversation-item]')
    expect(items).to_have_count(1)
    assert items.first.get_attribute('data-id') == own_id

    bob.goto(f'{app.url}/c/{secret_id}')
    expect(bob.locator('[data-testid=not-found]')).to_be_visible()
    expect(bob.locator('body')).not_to_contain_text('Salary review')
    # Alice goes on talking there: nothing of it reaches Bob's view of that URL
    send(alice, 'Second secret line')
    expect(alice.locator('[data-testid=message-assistant]').last).to_contain_text(DEMO_REPLY_END)
    expect(alice.locator('[data-testid=message-assistant]')).to_have_count(2)
    assert 'Second secret line' not in bob.locator('body').inner_text()
    expect(bob.locator('[data-testid=message-user]')).to_have_count(0)


def test_outside_allowed_domains_is_refused_with_the_reason(start_app: Callable[..., App],
                                                            new_context: Callable[[], BrowserContext]) -> None:
    app = start_app(CHATAPP_ALLOWED_DOMAINS='example.com')
    page = new_context().new_page()
    page.goto(app.url + '/')
    page.click('[data-testid=login-oidc]')
    sign_in_at_provider(page, 'mallory@evil.test')
    page.wait_for_url(app.url + '/login/refused')
    reason = page.locator('[data-testid=refused-reason]')
    expect(reason).to_contain_text('mallory@evil.test is not allowed')
    expect(reason).to_contain_text('example.com')
    assert not any(user['email'] == 'mallory@evil.test' for user in app.users())  # no user row
    page.goto(app.url + '/')
    assert page.url.startswith(app.url + '/login?')  # and no login

    # how to log out: at the provider, which then asks for a login again
    page.goto(app.url + '/login/refused')
    page.click('[data-testid=provider-logout]')
    page.click('button[value=yes]')
    page.wait_for_url(re.compile(re.escape(app.url) + r'/login(\?.*)?$'))
    page.click('[data-testid=login-oidc]')
    sign_in_at_provider(page, 'carol+unverified@example.com')  # the right domain, but not verified
    page.wait_for_url(app.url + '/login/refused')
    expect(page.locator('[data-testid=refused-reason]')).to_contain_text('verified')

    admitted = new_context().new_page()
    log_in(admitted, app, 'alice@example.com')
    expect(admitted.locator('[data-testid=user-name]')).to_have_text('Alice')
    assert sorted(u['email'] for u in app.users() if u['provider'] != 'local') == ['alice@example.com']


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | {name: value}
    return parts._replace(query=urlencode(query)).geturl()


def test_tampered_state_is_rejected(start_app: Callable[..., App],
                                    new_context: Callable[[], BrowserContext]) -> None:
    app = start_app()
    context = new_context()
    page = context.new_page()
    callbacks: list[str] = []
    page.on('request', lambda request: callbacks.append(request.url) if '/auth/oidc/callback' in request.url else None)
    # the app's redirect to the provider, taken in this browser (its cookie jar) without following it
    start = context.request.get(f'{app.url}/auth/oidc/login?next=%2F', max_redirects=0)
    authorize_url = start.headers['location']
    state = dict(parse_qsl(urlsplit(authorize_url).query))['state']

    page.goto(_with_param(authorize_url, 'state', state[:-1] + ('A' if state[-1] != 'A' else 'B')))
    sign_in_at_provider(page, 'alice@example.com')
    page.wait_for_url(app.url + '/login?error=state')
    expect(page.locator('[data-testid=login-error]')).to_contain_text('did not match')
    page.goto(app.url + '/')
    assert page.url.startswith(app.url + '/login?'), 'a tampered state must not log in'
    assert [u for u in app.users() if u['provider'] != 'local'] == []

    # the same request untampered goes through (the provider remembers Alice by now) ...
    page.goto(authorize_url)
    page.wait_for_url(app.url + '/')
    expect(page.locator('[data-testid=user-name]')).to_have_text('Alice')
    # ... but its answer delivered into another browser (login injection) is refused there
    other = new_context().new_page()
    other.goto(callbacks[-1])
    assert other.url == app.url + '/login?error=state'
    other.goto(app.url + '/')
    assert other.url.startswith(app.url + '/login?')


@pytest.mark.parametrize('target', ['//evil.example/x', 'https://evil.example/x', '/\\evil.example',
                                    '/\t/evil.example'])
def test_foreign_host_return_target_is_ignored(start_app: Callable[..., App],
                                               new_context: Callable[[], BrowserContext], target: str) -> None:
    app = start_app()
    page = new_context().new_page()
    requested: list[str] = []
    page.on('request', lambda request: requested.append(request.url))
    page.goto(f'{app.url}/login?{urlencode({"next": target})}')
    page.click('[data-testid=login-oidc]')
    sign_in_at_provider(page, 'alice@example.com')
    page.wait_for_url(app.url + '/')
    expect(page.locator('[data-testid=user-name]')).to_have_text('Alice')
    assert not [url for url in requested if 'evil.example' in urlsplit(url).netloc]
    # and straight into the flow, past the login page
    page.goto(f'{app.url}/auth/oidc/login?{urlencode({"next": target})}')
    page.wait_for_url(app.url + '/')
    assert not [url for url in requested if 'evil.example' in urlsplit(url).netloc]


def test_expired_login_mid_chat_offers_relogin_and_keeps_the_draft(start_app: Callable[..., App],
                                                                   new_context: Callable[[], BrowserContext]) -> None:
    lifetime = 20.0  # seconds
    app = start_app(CHATAPP_SESSION_HOURS=str(lifetime / 3600))
    page = new_context().new_page()
    log_in(page, app, 'alice@example.com')
    logged_in = time.monotonic()  # the login began a little before: it has expired by logged_in + lifetime
    conversation_id = start_conversation(page, app, 'First question')
    draft = 'A long thought\nthat must not be lost'
    page.locator(COMPOSER).fill(draft)
    assert time.monotonic() - logged_in < lifetime - 2, 'the machine was too slow to type before the expiry'
    page.wait_for_timeout(1000 * (lifetime + 0.5 - (time.monotonic() - logged_in)))

    page.click('[data-testid=send]')
    dialog = page.locator('[data-testid=login-expired]')
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text('Your login expired')
    expect(page.locator('[data-testid=message-user]')).to_have_count(1)  # nothing was sent

    page.click('[data-testid=relogin]')
    page.wait_for_url(re.compile(re.escape(app.url) + r'/login\?'))
    page.click('[data-testid=login-oidc]')  # the provider still knows Alice: straight back
    page.wait_for_url(f'{app.url}/c/{conversation_id}')
    expect(page.locator(COMPOSER)).to_have_value(draft)
    expect(page.locator('[data-testid=message-user]')).to_have_text(['First question'])
    expect(page.locator('[data-testid=message-assistant]')).to_contain_text(DEMO_REPLY_END)
    page.click('[data-testid=send]')  # logged in again: the draft goes out
    expect(page.locator('[data-testid=message-user]')).to_have_count(2)


def test_logout_really_logs_out(start_app: Callable[..., App],
                                new_context: Callable[[], BrowserContext]) -> None:
    app = start_app()
    context = new_context()
    page = context.new_page()
    log_in(page, app, 'alice@example.com')
    conversation_id = start_conversation(page, app, 'Before logging out')
    other_tab = context.new_page()
    other_tab.goto(f'{app.url}/c/{conversation_id}')
    expect(other_tab.locator('[data-testid=message-user]')).to_have_count(1)

    page.click('[data-testid=logout]')
    page.click('button[value=yes]')  # the provider's own "sign out?" page: its session ends too
    page.wait_for_url(re.compile(re.escape(app.url) + r'/login(\?.*)?$'))

    page.goto(f'{app.url}/c/{conversation_id}')
    assert page.url.startswith(app.url + '/login?')
    page.click('[data-testid=login-oidc]')
    expect(page.locator('input[name=login]')).to_be_visible()  # the provider asks again

    # the tab that stayed open leaves at once (test_cross_site.py: nothing more reaches it)
    other_tab.wait_for_url(re.compile(re.escape(app.url) + r'/login\?logged_out=1$'))
