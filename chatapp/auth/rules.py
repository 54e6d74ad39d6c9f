"""The pure rules of logging in: where a login may return to, who may enter, what a provider's answer
means, and how the session cookie is set. No I/O: unit-tested on their own."""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chatapp.settings import Settings

OIDC = 'oidc'
GITHUB = 'github'
GITHUB_LOGOUT_URL = 'https://github.com/logout'
LOGIN_FLOW_SECONDS = 600           # the cookie outlives even a very short session by the time a sign-in takes
OPEN_PATHS = ('/login', '/logout', '/healthz', '/favicon.ico')
OPEN_PREFIXES = ('/login/', '/auth/', '/_nicegui')  # '/_nicegui' also covers the socket at /_nicegui_ws
LOGIN_ERRORS = {  # ?error= on /login: fixed texts, never anything taken from the request
    'state': 'The sign-in could not be completed: it did not match a sign-in started in this browser '
             '(it may have expired, or the link was altered). Please try again.',
    'failed': 'The sign-in could not be completed. Please try again.',
    'denied': 'The sign-in was cancelled at the provider.',
    'unavailable': 'The login provider cannot be reached right now. Please try again in a moment.',
}


@dataclass(frozen=True)
class Identity:
    """Who the provider says the person is."""
    provider: str  # the users table's provider: 'github', or the OIDC issuer
    subject: str   # the provider's stable id for the person
    email: str = ''
    email_verified: bool = False
    name: str = ''
    avatar_url: str = ''


@dataclass(frozen=True)
class Provider:
    name: str   # in URLs: /auth/<name>/login, /auth/<name>/callback
    label: str  # on the login button


@dataclass(frozen=True)
class Account:
    """Who the header shows."""
    name: str
    email: str
    avatar_url: str
    local: bool


def safe_return_path(target: str | None) -> str:
    """`target` when it is a path on this site, else '/': after login nobody is sent to another host."""
    if not target or len(target) > 2000 or not target.startswith('/') or target.startswith('//'):
        return '/'
    # browsers read '\' as '/' and drop tabs and newlines, so '/\evil' and '/\t/evil' mean '//evil'
    if any(char == '\\' or char.isspace() or ord(char) < 0x20 or ord(char) == 0x7f for char in target):
        return '/'
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return '/'
    if parts.path in OPEN_PATHS or parts.path.startswith(('/login/', '/auth/')):
        return '/'  # never back into the login itself
    return target


def refusal_reason(identity: Identity, settings: Settings, provider_label: str) -> str | None:
    """Why this person may not enter, in words for them; None when they may.

    With neither CHATAPP_ALLOWED_DOMAINS nor CHATAPP_ALLOWED_EMAILS set, anyone the provider vouches for
    enters. Otherwise the provider must say the email is verified, and it must be listed itself or
    belong to a listed domain (exactly that domain, not its subdomains).
    """
    domains, emails = settings.allowed_domains, settings.allowed_emails
    if not (domains or emails):
        return None
    email = identity.email.strip().lower()
    if '@' not in email:
        return f'Your {provider_label} account has no email address, and this app admits only listed addresses.'
    if not identity.email_verified:
        return (f'{provider_label} does not confirm that {email} is verified, and this app admits only '
                'verified addresses.')
    if email in emails or email.rsplit('@', 1)[1] in domains:
        return None
    if domains:
        listed = ', '.join(domains)
        admitted = f'addresses at {listed}' + (' and some individual addresses' if emails else '')
    else:
        admitted = 'individually listed addresses'
    return f'{email} is not allowed to use this app: it admits only {admitted}.'


def oidc_identity(provider: str, claims: Mapping[str, Any]) -> Identity:
    email = str(claims.get('email') or '').strip()
    name = str(claims.get('name') or claims.get('preferred_username') or email or claims['sub'])
    return Identity(provider, str(claims['sub']), email, claims.get('email_verified') in (True, 'true'),
                    name, _web_url(claims.get('picture')))


def github_identity(user: Mapping[str, Any], emails: list[Mapping[str, Any]]) -> Identity:
    """GitHub's profile plus its primary email, which counts as verified only when GitHub says so."""
    primary = next((entry for entry in emails if entry.get('primary')), None) or {}
    return Identity(GITHUB, str(user['id']), str(primary.get('email') or ''), primary.get('verified') is True,
                    str(user.get('name') or user.get('login') or ''), _web_url(user.get('avatar_url')))


def oidc_provider_key(issuer: str) -> str:
    """The users table's provider for an OIDC issuer: the issuer itself, shortened with a hash if long."""
    if len(issuer) <= 64:
        return issuer
    return issuer[:47] + '#' + hashlib.sha256(issuer.encode()).hexdigest()[:16]


def is_loopback_host(host: str) -> bool:
    if host.strip().lower() == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host.strip().strip('[]')).is_loopback
    except ValueError:
        return False


def session_cookie_options(settings: Settings) -> dict[str, Any]:
    """NiceGUI's session cookie: httponly (always), SameSite=Lax, Secure behind an https public URL."""
    options: dict[str, Any] = {'same_site': 'lax', 'https_only': settings.public_url.startswith('https://')}
    if settings.login_enabled:
        options['max_age'] = max(math.ceil(settings.session_hours * 3600), LOGIN_FLOW_SECONDS)
    return options


def _web_url(value: Any) -> str:
    url = str(value or '')
    return url if url.startswith(('https://', 'http://')) else ''


LINK_PREFIX = '/s/'  # a read-only link


def is_open(path: str, *, public_links: bool = False) -> bool:
    """Needs no login: the login itself, NiceGUI's assets and socket, /healthz, and (`public_links`) read-only
    links."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or (public_links and path.startswith(LINK_PREFIX))


def configured_providers(settings: Settings) -> dict[str, Provider]:
    """The login buttons: the OIDC provider and GitHub, as far as they are configured."""
    providers = {}
    if settings.oidc_discovery_url:
        providers[OIDC] = Provider(OIDC, settings.oidc_name)
    if settings.github_client_id:
        providers[GITHUB] = Provider(GITHUB, 'GitHub')
    return providers
