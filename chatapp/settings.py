"""All configuration in one typed object, read once from the environment (and `.env`)."""

from __future__ import annotations

import importlib
import ipaddress
import os
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_MODEL = 'gpt-4o-mini'
DEFAULT_SYSTEM_PROMPT = 'You are a helpful assistant. Answer in Markdown when it helps.'
DEFAULT_OIDC_SCOPES = 'openid email profile'
DEFAULT_FORWARDED_ALLOW_IPS = '127.0.0.1,::1'  # uvicorn's own default


class ConfigError(Exception):
    """A setting has a value the app cannot run with; the message names the setting."""


@dataclass(frozen=True)
class Settings:
    host: str = '127.0.0.1'
    port: int = 8080
    data_dir: Path = Path('data')
    database_url: str = ''
    openai_api_key: str = ''
    openai_base_url: str = ''
    model: str = DEFAULT_MODEL
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    storage_secret: str = field(default='', repr=False)
    llm_timeout: float = 60.0
    llm_max_retries: int = 2
    max_message_chars: int = 32_000
    max_context_tokens: int = 16_000
    sends_per_minute: int = 20  # messages one person may send a minute; 0: no limit
    db_pool_size: int = 10
    db_pool_timeout: float = 30.0
    shutdown_grace: float = 20.0
    redis_url: str = ''  # several instances: live events and NiceGUI's user storage go through Redis
    reconnect_timeout: float = 30.0
    # whose X-Forwarded-For/-Proto uvicorn believes: the reverse proxy's addresses, or ('*',) for anyone
    forwarded_allow_ips: tuple[str, ...] = ('127.0.0.1', '::1')
    # login (chatapp/auth.py); with no provider configured the app runs in single-user local mode
    oidc_discovery_url: str = ''
    oidc_client_id: str = ''
    oidc_client_secret: str = field(default='', repr=False)
    oidc_scopes: str = DEFAULT_OIDC_SCOPES
    oidc_name: str = 'Single sign-on'
    github_client_id: str = ''
    github_client_secret: str = field(default='', repr=False)
    public_url: str = ''  # external base URL for redirect URIs, e.g. behind a TLS-terminating proxy
    allowed_domains: tuple[str, ...] = ()
    allowed_emails: tuple[str, ...] = ()
    session_hours: float = 12.0
    allow_anonymous: bool = False  # local mode may listen beyond loopback
    image_hosts: tuple[str, ...] = ()  # hosts whose images replies may show (https only)

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


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, '').strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f'{name}={raw!r} is not a whole number') from None


def _non_negative(value: int, name: str) -> int:
    if value < 0:
        raise ConfigError(f'{name}={value} must be 0 or more')
    return value


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, '').strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f'{name}={raw!r} is not a number') from None


def _http_url(env: dict[str, str], name: str) -> str:
    raw = env.get(name, '').strip().rstrip('/')
    if raw:
        parts = urlsplit(raw)
        if parts.scheme not in ('http', 'https') or not parts.hostname or parts.query or parts.fragment:
            raise ConfigError(f'{name}={raw!r} is not an http(s) URL')
    return raw


def _forwarded_allow_ips(env: dict[str, str]) -> tuple[str, ...]:
    """CHATAPP_FORWARDED_ALLOW_IPS, else uvicorn's own FORWARDED_ALLOW_IPS, else uvicorn's default. Checked
    here because uvicorn takes a malformed entry as a name that never matches, and '*' only on its own."""
    ours = 'CHATAPP_FORWARDED_ALLOW_IPS'
    name = ours if env.get(ours, '').strip() else 'FORWARDED_ALLOW_IPS'
    raw = env.get(name, '').strip() or DEFAULT_FORWARDED_ALLOW_IPS
    items = tuple(item.strip() for item in raw.split(',') if item.strip())
    if items == ('*',):
        return items
    for item in items:
        try:
            ipaddress.ip_network(item) if '/' in item else ipaddress.ip_address(item)
        except ValueError:
            raise ConfigError(f'{name}={raw!r}: {item!r} is not an IP address or network '
                              "(comma-separated, e.g. 10.0.0.5,10.1.0.0/16; or * alone for any)") from None
    return items


_HOST = re.compile(r'(?=.{1,253}$)[a-z0-9-]+(\.[a-z0-9-]+)*(:\d{1,5})?')


def _hosts(env: dict[str, str], name: str) -> tuple[str, ...]:
    hosts = tuple(item.strip().lower() for item in env.get(name, '').split(',') if item.strip())
    for host in hosts:
        if not _HOST.fullmatch(host):
            raise ConfigError(f'{name}: {host!r} is not a host name (comma-separated, e.g. images.example.com)')
    return hosts


def _list(env: dict[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip().lower().lstrip('@') for item in env.get(name, '').split(',') if item.strip())


def _login_settings(env: dict[str, str]) -> dict[str, object]:
    """The login providers and who may enter; a half-configured provider is an error, not local mode."""
    oidc = {'discovery_url': _http_url(env, 'OIDC_DISCOVERY_URL'), 'client_id': env.get('OIDC_CLIENT_ID', '').strip(),
            'client_secret': env.get('OIDC_CLIENT_SECRET', '').strip()}
    if any(oidc.values()) and not all(oidc.values()):
        missing = next(f'OIDC_{key.upper()}' for key, value in oidc.items() if not value)
        raise ConfigError(f'{missing} is required when any of OIDC_DISCOVERY_URL, OIDC_CLIENT_ID, '
                          'OIDC_CLIENT_SECRET is set')
    scopes = ' '.join(env.get('OIDC_SCOPES', '').replace(',', ' ').split()) or DEFAULT_OIDC_SCOPES
    if 'openid' not in scopes.split():
        raise ConfigError(f'OIDC_SCOPES={scopes!r} must include openid')
    github = {'client_id': env.get('GITHUB_CLIENT_ID', '').strip(),
              'client_secret': env.get('GITHUB_CLIENT_SECRET', '').strip()}
    if any(github.values()) and not all(github.values()):
        missing = next(f'GITHUB_{key.upper()}' for key, value in github.items() if not value)
        raise ConfigError(f'{missing} is required when the other GITHUB_CLIENT_* setting is set')
    session_hours = _float(env, 'CHATAPP_SESSION_HOURS', 12.0)
    if not session_hours > 0:
        raise ConfigError(f'CHATAPP_SESSION_HOURS={session_hours:g} must be more than 0')
    anonymous = env.get('CHATAPP_ALLOW_ANONYMOUS', '').strip().lower()
    if anonymous not in ('', '0', '1', 'false', 'true', 'no', 'yes'):
        raise ConfigError(f'CHATAPP_ALLOW_ANONYMOUS={anonymous!r} is not 1 or 0')
    return {
        'oidc_discovery_url': oidc['discovery_url'], 'oidc_client_id': oidc['client_id'],
        'oidc_client_secret': oidc['client_secret'], 'oidc_scopes': scopes,
        'oidc_name': env.get('OIDC_NAME', '').strip() or 'Single sign-on',
        'github_client_id': github['client_id'], 'github_client_secret': github['client_secret'],
        'public_url': _http_url(env, 'CHATAPP_PUBLIC_URL'),
        'allowed_domains': _list(env, 'CHATAPP_ALLOWED_DOMAINS'),
        'allowed_emails': _list(env, 'CHATAPP_ALLOWED_EMAILS'),
        'session_hours': session_hours,
        'allow_anonymous': anonymous in ('1', 'true', 'yes'),
    }


def _require_extra(module: str, setting: str, extra: str) -> None:
    """An optional driver that is not installed is a configuration error, not a traceback at first use."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{setting} needs the {module} package, which is not installed: install chatapp "
                          f"with its {extra} extra (pip install 'chatapp[{extra}]')") from None


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build the settings from the environment; raises ConfigError naming the bad setting."""
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get('CHATAPP_DATA_DIR') or 'data')
    database_url = env.get('DATABASE_URL', '').strip() or f'sqlite+aiosqlite:///{data_dir / "chatapp.db"}'
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise ConfigError(f'DATABASE_URL={database_url!r} cannot be parsed as a database URL') from None
    if url.get_backend_name() not in ('sqlite', 'postgresql'):
        raise ConfigError(f'DATABASE_URL uses {url.get_backend_name()!r}; only sqlite and postgresql are supported')
    if url.get_backend_name() == 'postgresql':
        _require_extra('asyncpg', 'DATABASE_URL', 'postgres')
    redis_url = env.get('REDIS_URL', '').strip()
    if redis_url:
        _require_extra('redis', 'REDIS_URL', 'redis')
    port = _int(env, 'CHATAPP_PORT', 8080)
    if not 0 < port < 65536:
        raise ConfigError(f'CHATAPP_PORT={port} is not a valid port')
    return Settings(
        host=env.get('CHATAPP_HOST', '').strip() or '127.0.0.1',
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        openai_api_key=env.get('OPENAI_API_KEY', '').strip(),
        openai_base_url=env.get('OPENAI_BASE_URL', '').strip(),
        model=env.get('CHATAPP_MODEL', '').strip() or DEFAULT_MODEL,
        system_prompt=env.get('CHATAPP_SYSTEM_PROMPT', DEFAULT_SYSTEM_PROMPT),
        storage_secret=env.get('CHATAPP_STORAGE_SECRET', '').strip(),
        llm_timeout=_float(env, 'CHATAPP_LLM_TIMEOUT', 60.0),
        llm_max_retries=_int(env, 'CHATAPP_LLM_MAX_RETRIES', 2),
        max_message_chars=_int(env, 'CHATAPP_MAX_MESSAGE_CHARS', 32_000),
        max_context_tokens=_int(env, 'CHATAPP_MAX_CONTEXT_TOKENS', 16_000),
        sends_per_minute=_non_negative(_int(env, 'CHATAPP_SENDS_PER_MINUTE', 20), 'CHATAPP_SENDS_PER_MINUTE'),
        db_pool_size=_int(env, 'CHATAPP_DB_POOL_SIZE', 10),
        db_pool_timeout=_float(env, 'CHATAPP_DB_POOL_TIMEOUT', 30.0),
        shutdown_grace=_float(env, 'CHATAPP_SHUTDOWN_GRACE', 20.0),
        redis_url=redis_url,
        reconnect_timeout=_float(env, 'CHATAPP_RECONNECT_TIMEOUT', 30.0),
        forwarded_allow_ips=_forwarded_allow_ips(env),
        image_hosts=_hosts(env, 'CHATAPP_IMAGE_HOSTS'),
        **_login_settings(env),
    )


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
