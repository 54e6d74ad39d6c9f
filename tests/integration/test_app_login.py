"""Several providers at once, and what the start of a login sends: over plain HTTP against the running
app (the provider's answer is covered by the browser tests)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.net import NoRedirect
from tests.support.oidc import OIDCProvider
from tests.support.servers import App

GITHUB = {'GITHUB_CLIENT_ID': 'Iv1.testclient', 'GITHUB_CLIENT_SECRET': 'not-a-real-secret'}


def redirect(url: str) -> tuple[str, str]:
    """The Location and Set-Cookie of a redirecting answer, without following it."""
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.build_opener(NoRedirect).open(url, timeout=10)
    assert answer.value.code in (302, 303), answer.value.code
    return answer.value.headers['location'], answer.value.headers.get('set-cookie', '')


def test_each_provider_gets_a_button_and_a_pkce_flow(start_app: Callable[..., App],
                                                     oidc_provider: OIDCProvider) -> None:
    app = start_app(**GITHUB)
    with urllib.request.urlopen(f'{app.url}/login', timeout=10) as response:
        page = response.read().decode()
    assert 'Continue with Test IdP' in page and 'Continue with GitHub' in page

    location, cookie = redirect(f'{app.url}/auth/oidc/login?next=%2Fc%2Fabc')
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(f'{oidc_provider.issuer}/auth?')
    assert query['redirect_uri'] == [f'{app.url}/auth/oidc/callback']
    assert query['scope'] == ['openid email profile'] and query['code_challenge_method'] == ['S256']
    assert query['state'][0] and query['nonce'][0] and query['code_challenge'][0]
    flags = [part.strip().lower() for part in cookie.split(';')]
    assert 'httponly' in flags and 'samesite=lax' in flags and 'secure' not in flags
    assert f'max-age={12 * 3600}' in flags

    location, _ = redirect(f'{app.url}/auth/github/login')
    query = parse_qs(urlsplit(location).query)
    assert location.startswith('https://github.com/login/oauth/authorize?')
    assert query['client_id'] == ['Iv1.testclient'] and query['scope'] == ['read:user user:email']
    assert query['redirect_uri'] == [f'{app.url}/auth/github/callback']
    assert query['code_challenge_method'] == ['S256'] and query['state'][0] and 'nonce' not in query


def test_public_url_makes_the_redirect_uri_and_a_secure_cookie(start_app: Callable[..., App]) -> None:
    app = start_app(CHATAPP_PUBLIC_URL='https://chat.example.test/', **GITHUB)
    location, cookie = redirect(f'{app.url}/auth/github/login')
    assert parse_qs(urlsplit(location).query)['redirect_uri'] == ['https://chat.example.test/auth/github/callback']
    assert 'secure' in [part.strip().lower() for part in cookie.split(';')]


def test_unknown_provider_and_missing_login_are_sent_to_the_login_page(start_app: Callable[..., App]) -> None:
    app = start_app()
    assert redirect(f'{app.url}/auth/nosuch/login')[0] == '/login'
    assert redirect(f'{app.url}/c/abc?x=1')[0] == '/login?next=%2Fc%2Fabc%3Fx%3D1'
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(urllib.request.Request(f'{app.url}/c/abc', data=b'', method='POST'), timeout=10)
    assert answer.value.code == 401
    with urllib.request.urlopen(f'{app.url}/healthz', timeout=10) as response:
        assert response.status == 200
