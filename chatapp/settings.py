"""All configuration in one typed object, read once from the environment (and `.env`)."""

from __future__ import annotations

import importlib
import ipaddress
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(Exception):
    """A setting has a value the app cannot run with; the message names the setting."""


# --- parsers: (value, name) -> the field's value. The value is stripped and, but for Setting.empty_is_value, not
# empty; the name is the variable it was read from, for the error message.

def _text(value: str, name: str) -> str:
    return value


def _path(value: str, name: str) -> Path:
    return Path(value)


def _whole(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f'{name}={value!r} is not a whole number') from None


def _count(value: str, name: str) -> int:
    count = _whole(value, name)
    if count < 0:
        raise ConfigError(f'{name}={count} must be 0 or more')
    return count


def _port(value: str, name: str) -> int:
    port = _whole(value, name)
    if not 0 < port < 65536:
        raise ConfigError(f'{name}={port} is not a valid port')
    return port


def _number(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f'{name}={value!r} is not a number') from None


def _positive(value: str, name: str) -> float:
    number = _number(value, name)
    if not number > 0:
        raise ConfigError(f'{name}={number:g} must be more than 0')
    return number


def _flag(value: str, name: str) -> bool:
    value = value.lower()
    if value not in ('0', '1', 'false', 'true', 'no', 'yes'):
        raise ConfigError(f'{name}={value!r} is not 1 or 0')
    return value in ('1', 'true', 'yes')


def _http_url(value: str, name: str) -> str:
    value = value.rstrip('/')
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ('http', 'https') or not parts.hostname or parts.query or parts.fragment:
            raise ConfigError(f'{name}={value!r} is not an http(s) URL')
    return value


def _database_url(value: str, name: str) -> str:
    try:
        url = make_url(value)
    except ArgumentError:
        raise ConfigError(f'{name}={value!r} cannot be parsed as a database URL') from None
    if url.get_backend_name() not in ('sqlite', 'postgresql'):
        raise ConfigError(f'{name} uses {url.get_backend_name()!r}; only sqlite and postgresql are supported')
    if url.get_backend_name() == 'postgresql':
        _require_extra('asyncpg', name, 'postgres')
    return value


def _redis_url(value: str, name: str) -> str:
    _require_extra('redis', name, 'redis')
    return value


def _require_extra(module: str, setting: str, extra: str) -> None:
    """An optional driver that is not installed is a configuration error, not a traceback at first use."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{setting} needs the {module} package, which is not installed: install chatapp "
                          f"with its {extra} extra (pip install 'chatapp[{extra}]')") from None


def _scopes(value: str, name: str) -> str:
    scopes = ' '.join(value.replace(',', ' ').split())
    if 'openid' not in scopes.split():
        raise ConfigError(f'{name}={scopes!r} must include openid')
    return scopes


def _addresses(value: str, name: str) -> tuple[str, ...]:
    """Comma-separated email addresses or domains, lower-case; a domain may be written @example.com."""
    return tuple(item.strip().lower().lstrip('@') for item in value.split(',') if item.strip())


_HOST = re.compile(r'(?=.{1,253}$)[a-z0-9-]+(\.[a-z0-9-]+)*(:\d{1,5})?')


def _hosts(value: str, name: str) -> tuple[str, ...]:
    hosts = tuple(item.strip().lower() for item in value.split(',') if item.strip())
    for host in hosts:
        if not _HOST.fullmatch(host):
            raise ConfigError(f'{name}: {host!r} is not a host name (comma-separated, e.g. images.example.com)')
    return hosts


def _ip_networks(value: str, name: str) -> tuple[str, ...]:
    """Checked here because uvicorn takes a malformed entry as a name that never matches, and '*' only on its own."""
    items = tuple(item.strip() for item in value.split(',') if item.strip())
    if items == ('*',):
        return items
    for item in items:
        try:
            ipaddress.ip_network(item) if '/' in item else ipaddress.ip_address(item)
        except ValueError:
            raise ConfigError(f'{name}={value!r}: {item!r} is not an IP address or network '
                              "(comma-separated, e.g. 10.0.0.5,10.1.0.0/16; or * alone for any)") from None
    return items


@dataclass(frozen=True)
class Setting:
    """How one field of Settings is read from the environment; the default is the field's own. .env.example and
    README.md document every setting with the same default (tests/unit/test_settings_docs.py)."""
    name: str  # the environment variable
    help: str
    parse: Callable[[str, str], Any] = _text
    fallback: str = ''  # the variable read when this one is empty
    empty_is_value: bool = False  # set but empty is a value, not "not set"


def setting(default: Any, name: str, help: str, parse: Callable[[str, str], Any] = _text, *, fallback: str = '',
            empty_is_value: bool = False, secret: bool = False) -> Any:
    """A field of Settings with its default and how it is read; a secret stays out of repr()."""
    return field(default=default, repr=not secret,
                 metadata={'setting': Setting(name, help, parse, fallback, empty_is_value)})


@dataclass(frozen=True)
class Settings:
    host: str = setting('127.0.0.1', 'CHATAPP_HOST', 'address to listen on (also --host)')
    port: int = setting(8080, 'CHATAPP_PORT', 'port to listen on (also --port)', _port)
    data_dir: Path = setting(Path('data'), 'CHATAPP_DATA_DIR',
                             'folder for the SQLite database and the generated storage secret', _path)
    database_url: str = setting('', 'DATABASE_URL', 'SQLite or PostgreSQL; empty: chatapp.db in the data folder',
                                _database_url)
    openai_api_key: str = setting('', 'OPENAI_API_KEY', 'API key of the model endpoint', secret=True)
    openai_base_url: str = setting('', 'OPENAI_BASE_URL', 'any OpenAI-compatible endpoint; empty: OpenAI')
    model: str = setting('gpt-4o-mini', 'CHATAPP_MODEL', 'model name sent to the endpoint (the default model)')
    models_file: str = setting('', 'CHATAPP_MODELS_FILE', 'TOML file of several endpoints, models and team presets')
    models_refresh: float = setting(300.0, 'CHATAPP_MODELS_REFRESH',
                                    "seconds between reads of each endpoint's model list", _positive)
    title_model: str = setting('', 'CHATAPP_TITLE_MODEL',
                               "model key that titles new conversations; empty: the conversation's; off: none")
    system_prompt: str = setting('You are a helpful assistant. Answer in Markdown when it helps.',
                                 'CHATAPP_SYSTEM_PROMPT', 'first message of every prompt; set but empty: none',
                                 empty_is_value=True)
    storage_secret: str = setting('', 'CHATAPP_STORAGE_SECRET',
                                  'signs the session cookie; empty: generated once into the data folder', secret=True)
    llm_timeout: float = setting(60.0, 'CHATAPP_LLM_TIMEOUT', 'seconds without a token before a reply times out',
                                 _number)
    llm_max_retries: int = setting(2, 'CHATAPP_LLM_MAX_RETRIES', 'retries of a request before its first token',
                                   _whole)
    max_message_chars: int = setting(32_000, 'CHATAPP_MAX_MESSAGE_CHARS', 'longest message a person may send',
                                     _whole)
    max_import_mb: float = setting(200.0, 'CHATAPP_MAX_IMPORT_MB',
                                   'largest file a person may import (JSON or ZIP), in MB; a ZIP unpacks to 5x at most',
                                   _positive)
    max_file_mb: float = setting(10.0, 'CHATAPP_MAX_FILE_MB', 'largest file a person may attach to a message, in MB',
                                 _positive)
    max_attachments_mb: float = setting(20.0, 'CHATAPP_MAX_ATTACHMENTS_MB',
                                        'most a message may attach in all, in MB', _positive)
    max_attachments: int = setting(10, 'CHATAPP_MAX_ATTACHMENTS', 'most files a message may attach', _whole)
    max_context_tokens: int = setting(16_000, 'CHATAPP_MAX_CONTEXT_TOKENS',
                                      'prompt budget in estimated tokens; the oldest turns go first', _whole)
    sends_per_minute: int = setting(20, 'CHATAPP_SENDS_PER_MINUTE',
                                    'messages one person may send a minute, across instances; 0: no limit', _count)
    db_pool_size: int = setting(10, 'CHATAPP_DB_POOL_SIZE', 'PostgreSQL connections kept open', _whole)
    db_pool_timeout: float = setting(30.0, 'CHATAPP_DB_POOL_TIMEOUT', 'seconds to wait for a free connection', _number)
    shutdown_grace: float = setting(20.0, 'CHATAPP_SHUTDOWN_GRACE',
                                    'on SIGTERM, seconds running replies may take to finish', _number)
    redis_url: str = setting('', 'REDIS_URL', 'several instances: live events and user storage go through Redis',
                             _redis_url)
    reconnect_timeout: float = setting(30.0, 'CHATAPP_RECONNECT_TIMEOUT',
                                       'seconds a disconnected page is kept before it is rebuilt', _number)
    # uvicorn's own default; its own variable is read when ours is empty
    forwarded_allow_ips: tuple[str, ...] = setting(
        ('127.0.0.1', '::1'), 'CHATAPP_FORWARDED_ALLOW_IPS',
        "whose X-Forwarded-For/-Proto uvicorn believes: the reverse proxy's addresses, or * alone for anyone",
        _ip_networks, fallback='FORWARDED_ALLOW_IPS')
    # login (chatapp/auth/); with no provider configured the app runs in single-user local mode
    oidc_discovery_url: str = setting('', 'OIDC_DISCOVERY_URL', "the provider's .well-known/openid-configuration",
                                      _http_url)
    oidc_client_id: str = setting('', 'OIDC_CLIENT_ID', "the app's client at that provider")
    oidc_client_secret: str = setting('', 'OIDC_CLIENT_SECRET', "that client's secret", secret=True)
    oidc_scopes: str = setting('openid email profile', 'OIDC_SCOPES', 'must include openid', _scopes)
    oidc_name: str = setting('Single sign-on', 'OIDC_NAME', 'the label of its button on the login page')
    github_client_id: str = setting('', 'GITHUB_CLIENT_ID', 'a GitHub OAuth app')
    github_client_secret: str = setting('', 'GITHUB_CLIENT_SECRET', "that app's secret", secret=True)
    public_url: str = setting('', 'CHATAPP_PUBLIC_URL', 'external base URL for redirect URIs, e.g. behind a proxy',
                              _http_url)
    allowed_domains: tuple[str, ...] = setting((), 'CHATAPP_ALLOWED_DOMAINS', 'email domains that may enter',
                                               _addresses)
    allowed_emails: tuple[str, ...] = setting((), 'CHATAPP_ALLOWED_EMAILS', 'addresses that may enter besides',
                                              _addresses)
    session_hours: float = setting(12.0, 'CHATAPP_SESSION_HOURS', 'how long a login lasts', _positive)
    allow_anonymous: bool = setting(False, 'CHATAPP_ALLOW_ANONYMOUS', 'local mode may listen beyond loopback', _flag)
    public_links: bool = setting(False, 'CHATAPP_PUBLIC_LINKS',
                                 'read-only links open without a login (for demos); off: only for the team', _flag)
    image_hosts: tuple[str, ...] = setting((), 'CHATAPP_IMAGE_HOSTS', 'hosts whose images replies may show (https)',
                                           _hosts)

    @property
    def login_enabled(self) -> bool:
        """At least one login provider is configured; otherwise everyone is the local user."""
        return bool(self.oidc_discovery_url or self.github_client_id)

    @property
    def uses_demo_model(self) -> bool:
        """No endpoint configured: the offline demo model answers."""
        return not (self.openai_api_key or self.openai_base_url)

    @property
    def avatar_hosts(self) -> tuple[str, ...]:
        """Hosts whose pictures the pages may load: the allowed image hosts, and GitHub's avatars."""
        return self.image_hosts + (('avatars.githubusercontent.com',) if self.github_client_id else ())

    @property
    def database(self) -> URL:
        return make_url(self.database_url)


SETTINGS = {item.name: item.metadata['setting'] for item in fields(Settings)}  # by field name


def _read(env: dict[str, str], setting: Setting, default: Any) -> Any:
    """The first of the setting's variables that is set, parsed; else the default."""
    for name in filter(None, (setting.name, setting.fallback)):
        value = env.get(name, '').strip()
        if value or (setting.empty_is_value and name in env):
            return setting.parse(value, name)
    return default


def _all_or_none(values: dict[str, Any], keys: tuple[str, ...], when: str) -> None:
    """A half-configured login provider is an error, not local mode."""
    given = {SETTINGS[key].name: values[key] for key in keys}
    if any(given.values()) and not all(given.values()):
        missing = next(name for name, value in given.items() if not value)
        raise ConfigError(f'{missing} is required when {when}')


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build the settings from the environment; raises ConfigError naming the bad setting."""
    env = dict(os.environ if env is None else env)
    values = {item.name: _read(env, item.metadata['setting'], item.default) for item in fields(Settings)}
    values['database_url'] = values['database_url'] or f'sqlite+aiosqlite:///{values["data_dir"] / "chatapp.db"}'
    _all_or_none(values, ('oidc_discovery_url', 'oidc_client_id', 'oidc_client_secret'),
                 'any of OIDC_DISCOVERY_URL, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET is set')
    _all_or_none(values, ('github_client_id', 'github_client_secret'), 'the other GITHUB_CLIENT_* setting is set')
    return Settings(**values)


def prepare_data_dir(settings: Settings) -> Settings:
    """Make sure the data folder is usable and the storage secret exists; returns the completed settings."""
    data_dir = settings.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        if data_dir.stat().st_mode & 0o077:  # e.g. the checkout's data/: it holds the database and the secret
            data_dir.chmod(0o700)
        probe = data_dir / '.write-test'
        probe.write_text('ok')
        probe.unlink()
    except OSError as error:
        raise ConfigError(f'CHATAPP_DATA_DIR={str(data_dir)!r} is not a writable folder ({error.strerror})') from None
    if settings.storage_secret:
        return settings
    secret_file = data_dir / 'storage_secret'
    try:
        if not secret_file.exists():
            # generated once per installation, so sessions survive restarts; never a constant in the code
            secret_file.touch(mode=0o600)
            secret_file.write_text(secrets.token_urlsafe(48))
        secret = secret_file.read_text().strip()
    except OSError as error:
        raise ConfigError(f'CHATAPP_STORAGE_SECRET: cannot read or create {secret_file} ({error.strerror})') from None
    return replace(settings, storage_secret=secret)
