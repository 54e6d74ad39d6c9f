"""All configuration in one typed object, read once from the environment (and `.env`)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_MODEL = 'gpt-4o-mini'
DEFAULT_SYSTEM_PROMPT = 'You are a helpful assistant. Answer in Markdown when it helps.'


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
    reconnect_timeout: float = 30.0

    @property
    def uses_demo_model(self) -> bool:
        """No endpoint configured: the offline demo model answers."""
        return not (self.openai_api_key or self.openai_base_url)

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


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, '').strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f'{name}={raw!r} is not a number') from None


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
        reconnect_timeout=_float(env, 'CHATAPP_RECONNECT_TIMEOUT', 30.0),
    )


def prepare_data_dir(settings: Settings) -> Settings:
    """Make sure the data folder is usable and the storage secret exists; returns the completed settings."""
    data_dir = settings.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
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
