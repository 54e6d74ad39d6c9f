"""Which endpoints and models the team uses: a TOML file named by CHATAPP_MODELS_FILE, or, without one, today's
single endpoint (OPENAI_BASE_URL, OPENAI_API_KEY, CHATAPP_MODEL), or else the offline demo model.

The file is checked at start; a bad entry stops the app with one line that names it. A model is known by its key,
`<endpoint>/<name>`: two endpoints may serve models of the same name.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from chatapp.settings import ConfigError, Settings

DEMO_ENDPOINT = 'demo'
ENDPOINT_ID = re.compile(r'[a-z0-9][a-z0-9_-]{0,31}')
Text = Annotated[str, Field(min_length=1, max_length=200)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra='forbid', frozen=True)


class EndpointConfig(_Entry):
    base_url: str = ''  # empty: the OpenAI API
    api_key: SecretStr = SecretStr('')
    api_key_env: str = ''  # or the key read from this environment variable, which keeps it out of the file
    discover: bool = True  # offer the models its GET /models lists, besides those configured

    @field_validator('base_url')
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not re.fullmatch(r'https?://[^\s/?#]+(/[^\s?#]*)?', value):
            raise ValueError(f'{value!r} is not an http(s) URL')
        return value.rstrip('/')

    def key(self) -> str:
        if self.api_key_env:
            return os.environ.get(self.api_key_env, '')
        return self.api_key.get_secret_value()


class ModelConfig(_Entry):
    name: Text  # as the endpoint knows it
    endpoint: str
    label: str = ''  # as people see it; empty: the name
    context_window: int | None = Field(default=None, gt=0)
    images: bool = False
    price_input: float | None = Field(default=None, ge=0)  # per million tokens
    price_output: float | None = Field(default=None, ge=0)

    @property
    def key(self) -> str:
        return f'{self.endpoint}/{self.name}'


class PresetConfig(_Entry):
    name: Text
    model: str = ''  # a model's key; empty: the default model
    system_prompt: str | None = None  # None: the app's system prompt
    starters: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(default=[], max_length=8)


class ModelsFile(_Entry):
    default_model: str = ''
    endpoints: dict[str, EndpointConfig] = Field(min_length=1)
    models: list[ModelConfig] = []
    presets: list[PresetConfig] = []


@dataclass(frozen=True)
class ModelsConfig:
    endpoints: dict[str, EndpointConfig]
    models: tuple[ModelConfig, ...]
    presets: tuple[PresetConfig, ...]
    default_model: str  # a key
    origin: str = ''  # where it was configured, for error messages

    def knows(self, key: str) -> bool:
        return _known(key, [model.key for model in self.models], self.endpoints)

    @property
    def demo(self) -> bool:
        return not self.endpoints


def load_models_config(settings: Settings) -> ModelsConfig:
    """The team's models, checked; raises ConfigError naming the bad entry."""
    if settings.models_file:
        return _from_file(Path(settings.models_file))
    if settings.uses_demo_model:
        demo = ModelConfig(name='offline', endpoint=DEMO_ENDPOINT, label='Demo (offline)', images=True)
        return ModelsConfig({}, (demo,), (), demo.key)
    try:
        endpoint = EndpointConfig(base_url=settings.openai_base_url, api_key=SecretStr(settings.openai_api_key))
    except ValidationError:  # a URL without its scheme (localhost:11434/v1): one line, not a traceback
        raise ConfigError(f'OPENAI_BASE_URL={settings.openai_base_url!r} is not an http(s) URL') from None
    model = ModelConfig(name=settings.model, endpoint='default')
    return ModelsConfig({'default': endpoint}, (model,), (), model.key, 'OPENAI_BASE_URL/CHATAPP_MODEL')


def _from_file(path: Path) -> ModelsConfig:
    where = f'CHATAPP_MODELS_FILE {path}'
    try:
        data = tomllib.loads(path.read_text(encoding='utf-8'))
    except OSError as error:
        raise ConfigError(f'{where}: cannot be read ({error.strerror})') from None
    except UnicodeDecodeError as error:
        raise ConfigError(f'{where}: not UTF-8 text (byte {error.start})') from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f'{where}: not valid TOML ({error})') from None
    try:
        parsed = ModelsFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        entry = ''.join(f'[{part}]' if isinstance(part, int) else f'.{part}' for part in first['loc']).lstrip('.')
        raise ConfigError(f'{where}: {entry}{_named(data, first["loc"])}: {first["msg"]}') from None
    _check_references(parsed, where)
    default = parsed.default_model or (parsed.models[0].key if parsed.models else '')
    if not default:
        raise ConfigError(f'{where}: default_model: set it, or list at least one model')
    return ModelsConfig(parsed.endpoints, tuple(parsed.models), tuple(parsed.presets), default, where)


def _check_references(parsed: ModelsFile, where: str) -> None:
    endpoints = parsed.endpoints
    for name, endpoint in endpoints.items():
        if not ENDPOINT_ID.fullmatch(name):
            raise ConfigError(f'{where}: endpoints.{name}: an endpoint\'s name is lower-case letters, digits, '
                              '- and _ (it is the first part of its models\' keys)')
        if endpoint.api_key_env and endpoint.api_key.get_secret_value():
            raise ConfigError(f'{where}: endpoints.{name}: set api_key or api_key_env, not both')
    keys = [model.key for model in parsed.models]
    for index, model in enumerate(parsed.models):
        if model.endpoint not in endpoints:
            raise ConfigError(f'{where}: models[{index}] ({model.name}): endpoint {model.endpoint!r} is not one of '
                              f'[endpoints.*] ({", ".join(endpoints)})')
        if keys.count(model.key) > 1:
            raise ConfigError(f'{where}: models[{index}] ({model.name}): listed twice for endpoint {model.endpoint}')
    references = [('default_model', parsed.default_model)] + \
        [(f'presets[{i}] ({p.name}).model', p.model) for i, p in enumerate(parsed.presets)]
    for entry, key in references:
        if key and not _known(key, keys, endpoints):
            raise ConfigError(f'{where}: {entry}: {key!r} is not a model key (<endpoint>/<name>) of a listed model, '
                              'nor of an endpoint with discover = true')


def _known(key: str, keys: list[str], endpoints: dict[str, EndpointConfig]) -> bool:
    endpoint, _, name = key.partition('/')
    return key in keys or (bool(name) and endpoint in endpoints and endpoints[endpoint].discover)


def _named(data: object, location: tuple) -> str:
    """' (gpt-4o)': the name of the list entry an error is in, when it has one."""
    if len(location) >= 2 and isinstance(location[1], int) and isinstance(data, dict):
        entries = data.get(location[0])
        if isinstance(entries, list) and location[1] < len(entries) and isinstance(entries[location[1]], dict):
            name = entries[location[1]].get('name')
            if isinstance(name, str) and name:
                return f' ({name})'
    return ''
