"""The login's rules without a browser: where a person may be sent back to, who may enter, what a
provider's answer becomes, and the login settings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chatapp.auth.rules import (
    GITHUB,
    Identity,
    github_identity,
    is_loopback_host,
    is_open,
    oidc_identity,
    oidc_provider_key,
    refusal_reason,
    safe_return_path,
    session_cookie_options,
)
from chatapp.settings import ConfigError, Settings, load_settings

OIDC_ENV = {'OIDC_DISCOVERY_URL': 'https://id.example.com/.well-known/openid-configuration',
            'OIDC_CLIENT_ID': 'chatapp', 'OIDC_CLIENT_SECRET': 's3cret'}


# --- the return target ---------------------------------------------------------------------------

@pytest.mark.parametrize('target', ['/', '/c/4f1c2b8e-0d7a-4a53-9d8b-0c1f2e3d4a5b', '/c/x?tab=1#end', '/%2F%2Fx'])
def test_local_paths_are_kept(target: str) -> None:
    assert safe_return_path(target) == target


@pytest.mark.parametrize('target', [
    None, '', 'c/123', '//evil.example', '//evil.example/c/1', 'https://evil.example', 'http://evil.example/',
    'HTTPS://evil.example', 'javascript:alert(1)', '/\\evil.example', '/\\/evil.example', '\\\\evil.example',
    '/\t/evil.example', '/\n/evil.example', '/\r/evil.example', '/ /evil.example', '/\x00/evil.example',
    '///evil.example', '/' + 'a' * 2001,
])
def test_anything_that_could_leave_the_site_becomes_the_start_page(target: str | None) -> None:
    assert safe_return_path(target) == '/'


@pytest.mark.parametrize('target', ['/login', '/login/refused', '/logout', '/auth/oidc/callback?code=x'])
def test_the_login_itself_is_never_the_return_target(target: str) -> None:
    assert safe_return_path(target) == '/'


def test_only_the_login_routes_assets_and_health_are_open() -> None:
    for path in ('/login', '/login/refused', '/logout', '/auth/oidc/callback', '/healthz',
                 '/_nicegui/3.18.0/static/quasar.js', '/_nicegui_ws/socket.io/'):
        assert is_open(path), path
    for path in ('/', '/c/123', '/loginx', '/logout/x', '/authx', '/docs', '/healthz/x'):
        assert not is_open(path), path


# --- who may enter -------------------------------------------------------------------------------

def person(email: str, verified: bool = True) -> Identity:
    return Identity('https://id.example.com', 'sub-1', email, verified, 'Pat')


def allowing(domains: tuple[str, ...] = (), emails: tuple[str, ...] = ()) -> Settings:
    return replace(Settings(), allowed_domains=domains, allowed_emails=emails)


def test_without_an_allowlist_anyone_the_provider_vouches_for_enters() -> None:
    assert refusal_reason(person('pat@anywhere.test', verified=False), allowing(), 'IdP') is None
    assert refusal_reason(person(''), allowing(), 'IdP') is None


def test_allowed_domain_admits_its_verified_addresses_only() -> None:
    settings = allowing(domains=('example.com',))
    assert refusal_reason(person('pat@example.com'), settings, 'IdP') is None
    assert refusal_reason(person('Pat@Example.COM'), settings, 'IdP') is None
    reason = refusal_reason(person('pat@evil.test'), settings, 'IdP')
    assert reason is not None and 'pat@evil.test' in reason and 'example.com' in reason
    assert refusal_reason(person('pat@sub.example.com'), settings, 'IdP') is not None  # not subdomains
    assert refusal_reason(person('pat@example.com.evil.test'), settings, 'IdP') is not None
    assert refusal_reason(person('pat@notexample.com'), settings, 'IdP') is not None


def test_unverified_or_missing_email_is_refused_with_a_reason() -> None:
    settings = allowing(domains=('example.com',))
    unverified = refusal_reason(person('pat@example.com', verified=False), settings, 'Okta')
    assert unverified is not None and 'verified' in unverified and 'Okta' in unverified
    missing = refusal_reason(person(''), settings, 'GitHub')
    assert missing is not None and 'no email' in missing


def test_allowed_emails_admit_exactly_those_and_are_never_revealed() -> None:
    settings = allowing(domains=('example.com',), emails=('guest@partner.test',))
    assert refusal_reason(person('guest@partner.test'), settings, 'IdP') is None
    assert refusal_reason(person('GUEST@partner.test'), settings, 'IdP') is None
    reason = refusal_reason(person('other@partner.test'), settings, 'IdP')
    assert reason is not None and 'guest@partner.test' not in reason and 'individual' in reason
    only_emails = refusal_reason(person('other@partner.test'), allowing(emails=('guest@partner.test',)), 'IdP')
    assert only_emails is not None and 'guest@partner.test' not in only_emails


# --- what a provider's answer becomes ---------------------------------------------------------------

def test_oidc_claims_become_an_identity() -> None:
    identity = oidc_identity('https://id.example.com', {
        'sub': 'abc', 'email': 'pat@example.com', 'email_verified': True, 'name': 'Pat Lee',
        'picture': 'https://id.example.com/pat.png'})
    assert identity == Identity('https://id.example.com', 'abc', 'pat@example.com', True, 'Pat Lee',
                                'https://id.example.com/pat.png')
    assert oidc_identity('i', {'sub': 'a', 'email': 'p@x.test', 'email_verified': 'true'}).email_verified
    sparse = oidc_identity('i', {'sub': 'a', 'picture': 'javascript:alert(1)', 'preferred_username': 'pat'})
    assert (sparse.email, sparse.email_verified, sparse.name, sparse.avatar_url) == ('', False, 'pat', '')


def test_github_uses_the_primary_email_and_its_verification() -> None:
    user = {'id': 583231, 'login': 'octocat', 'name': None, 'avatar_url': 'https://avatars.example/u/583231'}
    emails = [{'email': 'old@example.com', 'primary': False, 'verified': True},
              {'email': 'octo@example.com', 'primary': True, 'verified': True}]
    identity = github_identity(user, emails)
    assert identity == Identity(GITHUB, '583231', 'octo@example.com', True, 'octocat',
                                'https://avatars.example/u/583231')
    unverified = github_identity(user, [{'email': 'octo@example.com', 'primary': True, 'verified': False}])
    assert (unverified.email, unverified.email_verified) == ('octo@example.com', False)
    assert github_identity(user, []).email == ''


def test_long_issuers_fit_the_provider_column_and_stay_distinct() -> None:
    assert oidc_provider_key('https://id.example.com') == 'https://id.example.com'
    tenant = 'https://login.microsoftonline.com/{}/v2.0'
    first, second = (oidc_provider_key(tenant.format(t)) for t in ('9188040d-6c67-4c5b-b112-36a304b66dad',
                                                                    '72f988bf-86f1-41af-91ab-2d7cd011db47'))
    assert len(first) <= 64 and len(second) <= 64 and first != second
    assert first == oidc_provider_key(tenant.format('9188040d-6c67-4c5b-b112-36a304b66dad'))


# --- where local mode may listen, the cookie -------------------------------------------------------

@pytest.mark.parametrize(('host', 'loopback'), [
    ('127.0.0.1', True), ('127.0.1.1', True), ('::1', True), ('[::1]', True), ('localhost', True),
    ('0.0.0.0', False), ('::', False), ('192.168.1.20', False), ('chat.example.com', False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_session_cookie_is_lax_lives_as_long_as_the_session_and_is_secure_behind_https() -> None:
    local = session_cookie_options(Settings())
    assert local == {'same_site': 'lax', 'https_only': False}
    login = load_settings(OIDC_ENV | {'CHATAPP_PUBLIC_URL': 'https://chat.example.com/'})
    assert session_cookie_options(login) == {'same_site': 'lax', 'https_only': True, 'max_age': 12 * 3600}
    short = load_settings(OIDC_ENV | {'CHATAPP_SESSION_HOURS': '0.001'})
    assert session_cookie_options(short)['max_age'] == 600  # still long enough to finish a sign-in


# --- the login settings -----------------------------------------------------------------------------

def test_login_settings_defaults_and_parsing() -> None:
    assert not load_settings({}).login_enabled
    settings = load_settings(OIDC_ENV | {
        'CHATAPP_ALLOWED_DOMAINS': ' Example.com, @corp.test ,', 'CHATAPP_ALLOWED_EMAILS': 'Guest@Partner.test',
        'CHATAPP_PUBLIC_URL': 'https://chat.example.com/', 'GITHUB_CLIENT_ID': 'gh', 'GITHUB_CLIENT_SECRET': 'x'})
    assert settings.login_enabled
    assert (settings.oidc_scopes, settings.oidc_name, settings.session_hours) == (
        'openid email profile', 'Single sign-on', 12.0)
    assert settings.allowed_domains == ('example.com', 'corp.test')
    assert settings.allowed_emails == ('guest@partner.test',)
    assert settings.public_url == 'https://chat.example.com'
    assert 's3cret' not in repr(settings) and "'x'" not in repr(settings)
    assert load_settings({'CHATAPP_ALLOW_ANONYMOUS': '1'}).allow_anonymous
    assert not load_settings({'CHATAPP_ALLOW_ANONYMOUS': '0'}).allow_anonymous


@pytest.mark.parametrize(('env', 'named'), [
    ({'OIDC_DISCOVERY_URL': OIDC_ENV['OIDC_DISCOVERY_URL']}, 'OIDC_CLIENT_ID'),
    ({k: v for k, v in OIDC_ENV.items() if k != 'OIDC_CLIENT_SECRET'}, 'OIDC_CLIENT_SECRET'),
    ({'OIDC_CLIENT_ID': 'x', 'OIDC_CLIENT_SECRET': 'y'}, 'OIDC_DISCOVERY_URL'),
    (OIDC_ENV | {'OIDC_DISCOVERY_URL': 'id.example.com'}, 'OIDC_DISCOVERY_URL'),
    (OIDC_ENV | {'OIDC_SCOPES': 'email profile'}, 'OIDC_SCOPES'),
    ({'GITHUB_CLIENT_ID': 'gh'}, 'GITHUB_CLIENT_SECRET'),
    ({'GITHUB_CLIENT_SECRET': 'x'}, 'GITHUB_CLIENT_ID'),
    ({'CHATAPP_PUBLIC_URL': 'chat.example.com'}, 'CHATAPP_PUBLIC_URL'),
    ({'CHATAPP_PUBLIC_URL': 'https://chat.example.com/?x=1'}, 'CHATAPP_PUBLIC_URL'),
    ({'CHATAPP_SESSION_HOURS': '0'}, 'CHATAPP_SESSION_HOURS'),
    ({'CHATAPP_SESSION_HOURS': 'a day'}, 'CHATAPP_SESSION_HOURS'),
    ({'CHATAPP_ALLOW_ANONYMOUS': 'maybe'}, 'CHATAPP_ALLOW_ANONYMOUS'),
])
def test_bad_login_settings_name_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(env)
