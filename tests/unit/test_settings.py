"""Configuration: defaults, parsing, and the refusals that name their setting.

(integration/test_app_process.py: what `python -m chatapp` does with them.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chatapp.settings import ConfigError, load_settings, prepare_data_dir


def test_defaults_work_out_of_the_box() -> None:
    settings = load_settings({})
    assert (settings.host, settings.port, settings.model) == ('127.0.0.1', 8080, 'gpt-4o-mini')
    assert settings.database_url == 'sqlite+aiosqlite:///data/chatapp.db'
    assert settings.uses_demo_model


def test_any_endpoint_setting_turns_the_demo_model_off() -> None:
    assert not load_settings({'OPENAI_BASE_URL': 'http://localhost:11434/v1'}).uses_demo_model
    assert not load_settings({'OPENAI_API_KEY': 'sk-x'}).uses_demo_model


@pytest.mark.parametrize(('env', 'named'), [
    ({'DATABASE_URL': '::not a url::'}, 'DATABASE_URL'),
    ({'DATABASE_URL': 'mysql://x/y'}, 'DATABASE_URL'),
    ({'CHATAPP_PORT': 'eighty'}, 'CHATAPP_PORT'),
    ({'CHATAPP_PORT': '70000'}, 'CHATAPP_PORT'),
    ({'CHATAPP_LLM_TIMEOUT': 'soon'}, 'CHATAPP_LLM_TIMEOUT'),
    ({'CHATAPP_FORWARDED_ALLOW_IPS': 'nginx.internal'}, 'CHATAPP_FORWARDED_ALLOW_IPS'),
    ({'CHATAPP_FORWARDED_ALLOW_IPS': '10.0.0.5;10.0.0.6'}, 'CHATAPP_FORWARDED_ALLOW_IPS'),
    ({'CHATAPP_FORWARDED_ALLOW_IPS': '10.0.0.5/8'}, 'CHATAPP_FORWARDED_ALLOW_IPS'),  # host bits: uvicorn ignores it
    ({'CHATAPP_FORWARDED_ALLOW_IPS': '*,10.0.0.5'}, 'CHATAPP_FORWARDED_ALLOW_IPS'),  # '*' means anyone only alone
    ({'FORWARDED_ALLOW_IPS': 'proxy'}, 'FORWARDED_ALLOW_IPS'),
    ({'CHATAPP_SENDS_PER_MINUTE': '-1'}, 'CHATAPP_SENDS_PER_MINUTE'),
    ({'CHATAPP_IMAGE_HOSTS': 'https://images.example.com'}, 'CHATAPP_IMAGE_HOSTS'),  # a host, not a URL
    ({'CHATAPP_IMAGE_HOSTS': 'images.example.com/x'}, 'CHATAPP_IMAGE_HOSTS'),
])
def test_bad_values_name_their_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


def test_image_hosts_and_the_send_limit_are_read() -> None:
    settings = load_settings({'CHATAPP_IMAGE_HOSTS': ' Images.Example.com, cdn.example.org:8443 ',
                              'CHATAPP_SENDS_PER_MINUTE': '0'})
    assert settings.image_hosts == ('images.example.com', 'cdn.example.org:8443')
    assert settings.sends_per_minute == 0 and load_settings({}).sends_per_minute == 20
    assert load_settings({'GITHUB_CLIENT_ID': 'i', 'GITHUB_CLIENT_SECRET': 's'}).avatar_hosts == \
        ('avatars.githubusercontent.com',)


def test_storage_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = load_settings({'CHATAPP_DATA_DIR': str(tmp_path / 'data')})
    first = prepare_data_dir(settings).storage_secret
    assert len(first) >= 32 and prepare_data_dir(settings).storage_secret == first
    assert (tmp_path / 'data' / 'storage_secret').stat().st_mode & 0o077 == 0


def test_forwarded_allow_ips_defaults_to_uvicorns_and_takes_the_chatapp_prefix() -> None:
    assert load_settings({}).forwarded_allow_ips == ('127.0.0.1', '::1')
    assert load_settings({'FORWARDED_ALLOW_IPS': '10.0.0.5'}).forwarded_allow_ips == ('10.0.0.5',)
    env = {'CHATAPP_FORWARDED_ALLOW_IPS': ' 10.0.0.5, 10.1.0.0/16 ,fd00::1,', 'FORWARDED_ALLOW_IPS': '*'}
    assert load_settings(env).forwarded_allow_ips == ('10.0.0.5', '10.1.0.0/16', 'fd00::1')
    assert load_settings({'CHATAPP_FORWARDED_ALLOW_IPS': '*'}).forwarded_allow_ips == ('*',)
