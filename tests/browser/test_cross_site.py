"""Another site cannot act for a logged-in person: its forms, its logout and its socket are refused, and the
person stays logged in. Every page carries the security headers, and a logged-out tab gets nothing more."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.oidc import log_in
from tests.support.other_site import OtherSite
from tests.support.servers import App

pytestmark = pytest.mark.browser

COMPOSER = 'textarea[data-testid=composer]'
DEMO_REPLY_END = 'Any OpenAI-compatible endpoint works'


@pytest.fixture
def other_site() -> Iterator[OtherSite]:
    with OtherSite() as site:
        yield site


def auto_post(action: str) -> str:
    return (f'<form method="post" action="{action}"><input name="x" value="1"></form>'
            '<script>document.forms[0].submit()</script>')


def still_logged_in(page: Page, app: App) -> None:
    page.goto(app.url + '/')
    expect(page.locator('[data-testid=user-name]')).to_have_text('Alice')


def test_a_form_posted_from_another_site_is_refused_and_keeps_the_login(
        start_app: Callable[..., App], new_context: Callable[[], BrowserContext], other_site: OtherSite) -> None:
    app = start_app()
    context = new_context()
    page = context.new_page()
    log_in(page, app, 'alice@example.com')
    other_site.pages['/post'] = auto_post(f'{app.url}/c/anything')
    other_site.pages['/logout'] = auto_post(f'{app.url}/logout')
    for path in ('/post', '/logout'):
        attack = context.new_page()
        with attack.expect_response(lambda response: response.url.startswith(app.url)) as answer:
            attack.goto(other_site.origin + path)
        assert answer.value.status == 403
        assert 'set-cookie' not in answer.value.headers  # a fresh cookie would replace the person's
        attack.close()
        still_logged_in(page, app)


def test_another_site_cannot_open_the_apps_socket(start_app: Callable[..., App],
                                                  new_context: Callable[[], BrowserContext],
                                                  other_site: OtherSite) -> None:
    app = start_app()
    context = new_context()
    log_in(context.new_page(), app, 'alice@example.com')
    socket_url = app.url.replace('http://', 'ws://') + '/_nicegui_ws/socket.io/?EIO=4&transport=websocket'
    other_site.pages['/socket'] = f'''<script>
      window.outcome = new Promise((resolve) => {{
        const socket = new WebSocket("{socket_url}");
        socket.onmessage = (event) => resolve("message: " + event.data);
        socket.onclose = () => resolve("closed");
      }});
      window.polling = fetch("{app.url}/_nicegui_ws/socket.io/?EIO=4&transport=polling",
                             {{credentials: "include"}}).then((r) => "status " + r.status, () => "refused");
    </script>'''
    page = context.new_page()
    page.goto(other_site.origin + '/socket')
    assert page.evaluate('window.outcome') == 'closed'  # the handshake (its "0{...}" open packet) never came
    assert page.evaluate('window.polling') == 'refused'  # NiceGUI's socket used to answer any origin, with CORS
    polling = urllib.request.Request(app.url + '/_nicegui_ws/socket.io/?EIO=4&transport=polling',
                                     headers={'Origin': other_site.origin})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(polling, timeout=10)
    assert refused.value.code == 403


def test_every_kind_of_page_sends_the_security_headers(start_app: Callable[..., App],
                                                       new_context: Callable[[], BrowserContext]) -> None:
    app = start_app()
    page = new_context().new_page()
    log_in(page, app, 'alice@example.com')
    page.locator(COMPOSER).fill('A question')
    page.locator(COMPOSER).press('Enter')
    page.wait_for_url(re.compile(r'.*/c/[0-9a-f-]{36}$'))
    conversation = page.url
    static = page.evaluate('[...document.scripts].map((s) => s.src).find((src) => src.includes("/static/"))')
    for url in (app.url + '/', conversation, app.url + '/login', app.url + '/logout', app.url + '/healthz',
                static, app.url + '/c/no-such-conversation'):
        response = page.request.get(url, max_redirects=0)
        policy = response.headers.get('content-security-policy', '')
        assert "frame-ancestors 'none'" in policy, url
        assert "script-src 'self' 'unsafe-eval'" in policy and "img-src 'self' data:" in policy, url
        assert 'unsafe-inline' not in policy.split('style-src')[0], url  # no inline script but hashed ones
        assert response.headers.get('x-content-type-options') == 'nosniff', url
        assert response.headers.get('referrer-policy') == 'same-origin', url


def test_the_pages_work_under_the_policy(start_app: Callable[..., App],
                                         new_context: Callable[[], BrowserContext]) -> None:
    """Nothing the app itself needs is refused: Chromium reports every refusal on the console."""
    app = start_app()
    page = new_context().new_page()
    refusals: list[str] = []
    page.on('console', lambda message: refusals.append(message.text) if 'Content Security Policy' in message.text
            else None)
    log_in(page, app, 'alice@example.com')
    page.locator(COMPOSER).fill('A question')
    page.locator(COMPOSER).press('Enter')
    expect(page.locator('[data-testid=message-assistant]').last).to_contain_text(DEMO_REPLY_END)
    page.click('[aria-label="Toggle dark mode"]')
    page.reload()
    expect(page.locator('[data-testid=message-assistant]').last).to_contain_text(DEMO_REPLY_END)
    page.goto(app.url + '/logout')
    expect(page.get_by_text('Log out of chatapp?')).to_be_visible()
    assert refusals == []


def test_a_tab_left_open_gets_nothing_after_logging_out_elsewhere(start_app: Callable[..., App],
                                                                 new_context: Callable[[], BrowserContext]) -> None:
    app = start_app()
    context = new_context()
    page = context.new_page()
    log_in(page, app, 'alice@example.com')
    page.locator(COMPOSER).fill('Our secret plan')
    page.locator(COMPOSER).press('Enter')
    expect(page.locator('[data-testid=message-assistant]').last).to_contain_text(DEMO_REPLY_END)
    other_tab = context.new_page()
    other_tab.goto(app.url + '/')
    expect(other_tab.locator('[data-testid=conversation-item]')).to_have_count(1)
    search = other_tab.locator('[data-testid=search] input')

    page.click('[data-testid=logout]')
    page.click('button[value=yes]')  # the provider's own "sign out?" page
    page.wait_for_url(re.compile(re.escape(app.url) + r'/login(\?.*)?$'))

    other_tab.wait_for_url(re.compile(re.escape(app.url) + r'/login\?logged_out=1$'))  # at once, not at its next action
    expect(other_tab.get_by_text('Our secret plan')).to_have_count(0)
    expect(search).to_have_count(0)
