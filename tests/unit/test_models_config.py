"""The models file and the settings it replaces: what loads, the one-line refusal that names a bad entry, and what
a reply or a title costs and is called.

(integration/test_model_catalog.py: the same configuration against real OpenAI-protocol servers.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chatapp.engine.titles import TITLE_CHARS, clean_title
from chatapp.llm.catalog import ModelInfo
from chatapp.llm.config import ModelsConfig, load_models_config
from chatapp.settings import ConfigError, load_settings
from tests.support import ROOT
from tests.support.engines import model_catalog

EXAMPLE = ROOT / 'docs' / 'models.example.toml'
ENDPOINT = '[endpoints.local]\nbase_url = "http://127.0.0.1:11434/v1"\n'
MODEL = '[[models]]\nname = "llama3"\nendpoint = "local"\n'


def load(tmp_path: Path, text: str | bytes) -> ModelsConfig:
    path = tmp_path / 'models.toml'
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return load_models_config(load_settings({'CHATAPP_MODELS_FILE': str(path)}))


async def test_the_example_file_loads_and_its_models_can_be_built() -> None:
    config = load_models_config(load_settings({'CHATAPP_MODELS_FILE': str(EXAMPLE)}))
    assert config.default_model == 'openai/gpt-4o-mini' and not config.demo
    assert list(config.endpoints) == ['openai', 'local']
    assert [m.key for m in config.models] == ['openai/gpt-4o-mini', 'openai/gpt-4o', 'local/llama3.1:8b']
    assert [(p.name, p.model) for p in config.presets] == [('Code reviewer', 'openai/gpt-4o'),
                                                           ('Confidential', 'local/llama3.1:8b')]
    assert config.knows('local/qwen2.5:7b'), 'local lists its models: any of them may be picked'
    assert not config.knows('openai/gpt-4-turbo'), 'openai does not (discover = false): only those listed'
    catalog = model_catalog(load_settings({'CHATAPP_MODELS_FILE': str(EXAMPLE)}))
    try:
        mini = catalog.get('openai/gpt-4o-mini')
        assert mini is not None and (mini.label, mini.images, mini.context_window) == ('GPT-4o mini', True, 128000)
        assert catalog.status() == {'openai': 'unknown', 'local': 'unknown'}, 'not asked before start()'
    finally:
        await catalog.close()


@pytest.mark.parametrize(('text', 'named'), [
    pytest.param(ENDPOINT + '[[models]]\nname = "gpt-4o"\nendpoint = "cloud"\n',
                 ["models[0] (gpt-4o): endpoint 'cloud' is not one of [endpoints.*] (local)"], id='unknown-endpoint'),
    pytest.param(ENDPOINT + MODEL + MODEL, ['models[0] (llama3): listed twice for endpoint local'], id='duplicate'),
    pytest.param('[endpoints.local]\nbase_url = "localhost:11434/v1"\n',
                 ['endpoints.local.base_url', "'localhost:11434/v1' is not an http(s) URL"], id='bad-base-url'),
    pytest.param('[endpoints.local]\nbase_url = "ftp://files.example.com"\n',
                 ['endpoints.local.base_url', 'http(s) URL'], id='not-http'),
    pytest.param(ENDPOINT + MODEL + 'colour = "red"\n', ['models[0].colour', '(llama3)', 'Extra inputs'],
                 id='unknown-key-in-model'),
    pytest.param(ENDPOINT + 'timeout = 5\n', ['endpoints.local.timeout', 'Extra inputs'], id='unknown-key-in-endpoint'),
    pytest.param('fallback_model = "local/llama3"\n' + ENDPOINT, ['fallback_model', 'Extra inputs'],
                 id='unknown-top-level-key'),
    pytest.param(ENDPOINT + MODEL + 'price_input = -1\n', ['models[0].price_input', '(llama3)'], id='negative-price'),
    pytest.param(ENDPOINT + '[[models]]\nendpoint = "local"\n', ['models[0].name', 'Field required'], id='no-name'),
    pytest.param(ENDPOINT + 'discover = false\n' + MODEL
                 + '[[presets]]\nname = "Reviewer"\nmodel = "local/qwen"\n',
                 ["presets[0] (Reviewer).model: 'local/qwen' is not a model key"], id='preset-unknown-model'),
    pytest.param(ENDPOINT + MODEL + '[[presets]]\nname = "Reviewer"\nmodel = "cloud/gpt-4o"\n',
                 ["presets[0] (Reviewer).model: 'cloud/gpt-4o'"], id='preset-unknown-endpoint'),
    pytest.param('default_model = "cloud/gpt-4o"\n' + ENDPOINT, ["default_model: 'cloud/gpt-4o'"],
                 id='default-unknown'),
    pytest.param(ENDPOINT + 'api_key = "sk-x"\napi_key_env = "LOCAL_KEY"\n',
                 ['endpoints.local: set api_key or api_key_env, not both'], id='two-keys'),
    pytest.param(ENDPOINT + '[[models]\n', ['not valid TOML', 'line 3'], id='invalid-toml'),
    pytest.param(b'[endpoints.local]\nbase_url = "http://caf\xe9/v1"\n', ['not UTF-8'], id='not-utf-8'),
    pytest.param('[endpoints.Local]\nbase_url = "http://127.0.0.1:1/v1"\n',
                 ["endpoints.Local: an endpoint's name is lower-case letters"], id='upper-case-endpoint'),
    pytest.param('[endpoints."a/b"]\nbase_url = "http://127.0.0.1:1/v1"\n', ['endpoints.a/b:'], id='slash-endpoint'),
    pytest.param('default_model = "local/llama3"\n', ['endpoints: Field required'], id='no-endpoints'),
    pytest.param(ENDPOINT, ['default_model: set it, or list at least one model'], id='no-model-at-all'),
])
def test_a_bad_entry_is_one_line_that_names_it(tmp_path: Path, text: str | bytes, named: list[str]) -> None:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, text)
    message = str(refused.value)
    assert len(message.splitlines()) == 1, message
    assert message.startswith(f'CHATAPP_MODELS_FILE {tmp_path / "models.toml"}: '), message
    for part in named:
        assert part in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / 'nowhere.toml'
    with pytest.raises(ConfigError, match=r'^CHATAPP_MODELS_FILE .*nowhere\.toml: cannot be read \(No such file'):
        load_models_config(load_settings({'CHATAPP_MODELS_FILE': str(missing)}))


def test_the_first_model_is_the_default_and_a_key_may_come_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('TEST_LOCAL_KEY', 'sk-from-env')
    config = load(tmp_path, ENDPOINT + 'api_key_env = "TEST_LOCAL_KEY"\n' + MODEL
                  + '[[models]]\nname = "meta-llama/Llama-3-8B"\nendpoint = "local"\n')
    assert config.default_model == 'local/llama3'
    assert [m.key for m in config.models] == ['local/llama3', 'local/meta-llama/Llama-3-8B']
    assert config.endpoints['local'].key() == 'sk-from-env'
    assert config.endpoints['local'].base_url == 'http://127.0.0.1:11434/v1'


def test_without_a_file_the_endpoint_settings_are_one_endpoint_named_default() -> None:
    config = load_models_config(load_settings({'OPENAI_BASE_URL': 'http://127.0.0.1:11434/v1/',
                                               'OPENAI_API_KEY': 'sk-x', 'CHATAPP_MODEL': 'llama3.1:8b'}))
    assert list(config.endpoints) == ['default'] and not config.demo
    assert config.endpoints['default'].base_url == 'http://127.0.0.1:11434/v1'
    assert config.endpoints['default'].key() == 'sk-x'
    assert [m.key for m in config.models] == ['default/llama3.1:8b'] and config.default_model == 'default/llama3.1:8b'
    assert config.knows('default/gpt-4o'), 'the endpoint lists its models'


def test_a_key_alone_is_the_openai_api() -> None:
    config = load_models_config(load_settings({'OPENAI_API_KEY': 'sk-x'}))
    assert config.endpoints['default'].base_url == '' and config.default_model == 'default/gpt-4o-mini'


def test_a_base_url_that_is_not_http_is_a_one_line_refusal_naming_the_setting() -> None:
    with pytest.raises(ConfigError) as refused:
        load_models_config(load_settings({'OPENAI_BASE_URL': 'localhost:11434/v1', 'OPENAI_API_KEY': 'k'}))
    message = str(refused.value)
    assert len(message.splitlines()) == 1 and message.startswith('OPENAI_BASE_URL='), message


def test_with_no_key_and_no_url_the_demo_model_answers() -> None:
    config = load_models_config(load_settings({'CHATAPP_MODEL': 'ignored'}))
    assert config.demo and config.endpoints == {}
    assert [(m.key, m.label) for m in config.models] == [('demo/offline', 'Demo (offline)')]
    assert config.default_model == 'demo/offline'


# --- what a model costs ------------------------------------------------------------------------------------

def test_cost_is_per_million_tokens_and_needs_both_prices() -> None:
    priced = ModelInfo('a/m', 'm', 'a', 'M', price_input=2.5, price_output=10.0)
    assert priced.cost(1_000_000, 0) == pytest.approx(2.5)
    assert priced.cost(1200, 300) == pytest.approx((1200 * 2.5 + 300 * 10.0) / 1e6)
    assert priced.cost(None, 100) == pytest.approx(0.001)
    assert ModelInfo('a/m', 'm', 'a', 'M', price_input=2.5).cost(100, 100) is None
    assert ModelInfo('a/m', 'm', 'a', 'M').cost(100, 100) is None
    assert ModelInfo('a/m', 'm', 'a', 'M', price_input=0.0, price_output=0.0).cost(100, 100) == 0.0


# --- what a title model answers ----------------------------------------------------------------------------

@pytest.mark.parametrize(('answer', 'title'), [
    ('<think>The person asks about Paris.</think>"Paris trip"', 'Paris trip'),
    ('<think>\nline one\nline two\n</think>\n\nParis trip', 'Paris trip'),
    ('<THINKING>x</THINKING>Paris trip', 'Paris trip'),
    ('<reasoning>x</reasoning>Paris trip', 'Paris trip'),
    ('«Voyage à Paris»', 'Voyage à Paris'),
    ('“Paris trip”', 'Paris trip'),
    ("'Paris trip'", 'Paris trip'),
    ('**Paris trip**', 'Paris trip'),
    ('Title: Paris trip', 'Paris trip'),
    ('title: "Paris trip"', 'Paris trip'),
    ('Titre : Voyage à Paris', 'Voyage à Paris'),
    ('标题：巴黎旅行', '巴黎旅行'),
    ('Paris trip.', 'Paris trip'),
    ('"Paris trip".', 'Paris trip'),
    ('巴黎旅行计划。', '巴黎旅行计划'),
    ('巴黎旅行计划', '巴黎旅行计划'),
    ('\n\n  Paris   trip  \nBecause the person asks about Paris.', 'Paris trip'),
])
def test_clean_title_keeps_the_title_alone(answer: str, title: str) -> None:
    assert clean_title(answer) == title


@pytest.mark.parametrize('answer', ['', '   \n', '<think>still thinking when the answer was cut off', '""',
                                    '<think>x</think>'])
def test_clean_title_finds_none_in_an_answer_without_one(answer: str) -> None:
    assert clean_title(answer) is None


def test_clean_title_shortens_a_long_title_at_a_word() -> None:
    long = 'A remarkably detailed plan ' * 10
    title = clean_title(long)
    assert title is not None and title.endswith('…') and len(title) <= TITLE_CHARS + 1
    assert long.startswith(title[:-1]) and not title[:-1].endswith(' ')
    chinese = '巴黎' * 60  # no spaces to cut at
    assert clean_title(chinese) == chinese[:TITLE_CHARS] + '…'
