"""Configuration: defaults, parsing, and the one-line refusals of `python -m chatapp`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from chatapp.settings import ConfigError, load_settings, prepare_data_dir
from tests.conftest import LLMock, NoRedirect, free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]


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


def app_environment(tmp_path: Path, **env: str) -> dict[str, str]:
    """A clean app: none of our settings, and nothing that makes NiceGUI think it runs under pytest."""
    prefixes = ('CHATAPP_', 'OPENAI_', 'DATABASE_', 'NICEGUI_', 'PYTEST_', 'FORWARDED_')
    environment = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return environment | {'CHATAPP_DATA_DIR': str(tmp_path / 'data'), 'PYTHONPATH': str(ROOT)} | env


def run_app(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'chatapp', *args], cwd=tmp_path, env=app_environment(tmp_path, **env),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(('env', 'named'), [
    ({'DATABASE_URL': 'nonsense://'}, 'DATABASE_URL'),
    ({'DATABASE_URL': 'postgresql+asyncpg://nobody@127.0.0.1:1/none'}, 'DATABASE_URL'),
    ({'CHATAPP_DATA_DIR': '/proc/no/such/dir'}, 'CHATAPP_DATA_DIR'),
])
def test_bad_configuration_stops_with_one_line_and_exit_2(tmp_path: Path, env: dict[str, str], named: str) -> None:
    result = run_app(tmp_path, '--port', str(free_port()), **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and 'Traceback' not in result.stderr


@pytest.mark.parametrize(('env', 'module', 'extra'), [
    ({'DATABASE_URL': 'postgresql+asyncpg://nobody@127.0.0.1:1/none'}, 'asyncpg', 'postgres'),
    ({'REDIS_URL': 'redis://127.0.0.1:1/0'}, 'redis', 'redis'),
])
def test_a_missing_optional_driver_names_the_extra(tmp_path: Path, env: dict[str, str], module: str,
                                                     extra: str) -> None:
    """As if the extra was not installed: a package of that name that fails to import comes first on the path."""
    (tmp_path / 'hidden' / module).mkdir(parents=True)
    (tmp_path / 'hidden' / module / '__init__.py').write_text(f'raise ImportError("no {module} here")\n')
    result = run_app(tmp_path, '--port', str(free_port()), PYTHONPATH=f'{tmp_path / "hidden"}{os.pathsep}{ROOT}',
                     **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"chatapp[{extra}]" in lines[0] and 'Traceback' not in result.stderr, result.stderr


def test_a_model_client_that_cannot_be_built_stops_the_app(tmp_path: Path) -> None:
    result = run_app(tmp_path, '--port', str(free_port()), OPENAI_BASE_URL='http://[::1/v1', OPENAI_API_KEY='k')
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'OPENAI_BASE_URL' in lines[0] and 'Traceback' not in result.stderr, result.stderr


def test_port_in_use_is_refused_clearly(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        result = run_app(tmp_path, '--port', str(taken.getsockname()[1]))
    assert result.returncode == 2 and 'CHATAPP_PORT/--port' in result.stderr and 'in use' in result.stderr


def test_env_file_in_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / '.env').write_text('DATABASE_URL=nonsense-from-dotenv://\n')
    result = run_app(tmp_path)
    assert result.returncode == 2 and 'nonsense-from-dotenv' in result.stderr


def test_help_explains_every_flag(tmp_path: Path) -> None:
    result = run_app(tmp_path, '--help')
    assert result.returncode == 0 and '--host' in result.stdout and '--port' in result.stdout


@contextlib.contextmanager
def serving(tmp_path: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python -m chatapp` on a free port, answering; its output goes to tmp_path/app.log. Killed at the end
    if the test has not stopped it."""
    port = free_port()
    with (tmp_path / 'app.log').open('w') as log:
        app = subprocess.Popen([sys.executable, '-m', 'chatapp', '--port', str(port)], cwd=tmp_path,
                               env=app_environment(tmp_path, **env), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f'http://127.0.0.1:{port}/healthz', timeout=60, process=app)
        yield f'http://127.0.0.1:{port}', app
    finally:
        app.kill()
        app.wait(10)


def test_sigterm_stops_the_app_with_exit_status_0(tmp_path: Path) -> None:
    """systemctl stop sends SIGTERM: after the graceful shutdown the process exits 0, not "killed by SIGTERM"."""
    with serving(tmp_path) as (_, app):
        app.send_signal(signal.SIGTERM)
        app.wait(30)
    output = (tmp_path / 'app.log').read_text()
    assert app.returncode == 0, output
    assert 'stopped; every reply is saved' in output and 'Traceback' not in output, output


def test_forwarded_allow_ips_defaults_to_uvicorns_and_takes_the_chatapp_prefix() -> None:
    assert load_settings({}).forwarded_allow_ips == ('127.0.0.1', '::1')
    assert load_settings({'FORWARDED_ALLOW_IPS': '10.0.0.5'}).forwarded_allow_ips == ('10.0.0.5',)
    env = {'CHATAPP_FORWARDED_ALLOW_IPS': ' 10.0.0.5, 10.1.0.0/16 ,fd00::1,', 'FORWARDED_ALLOW_IPS': '*'}
    assert load_settings(env).forwarded_allow_ips == ('10.0.0.5', '10.1.0.0/16', 'fd00::1')
    assert load_settings({'CHATAPP_FORWARDED_ALLOW_IPS': '*'}).forwarded_allow_ips == ('*',)


def test_the_proxy_named_by_chatapp_forwarded_allow_ips_is_believed(tmp_path: Path) -> None:
    """X-Forwarded-Proto from a trusted address makes the login's redirect URI https. uvicorn's own variable says
    the opposite here: only our setting reaching ui.run explains an https URI."""
    with serving(tmp_path, CHATAPP_FORWARDED_ALLOW_IPS='127.0.0.1', FORWARDED_ALLOW_IPS='10.9.9.9',
                 GITHUB_CLIENT_ID='id', GITHUB_CLIENT_SECRET='secret') as (url, _):
        request = urllib.request.Request(f'{url}/auth/github/login', headers={
            'Host': 'chat.example.test', 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '203.0.113.7'})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(request, timeout=10)
    location = answer.value.headers['Location']
    assert answer.value.code == 302 and location.startswith('https://github.com/login/oauth/authorize?'), location
    redirect_uri = parse_qs(urlsplit(location).query)['redirect_uri']
    assert redirect_uri == ['https://chat.example.test/auth/github/callback']


def health(url: str) -> dict:
    with urllib.request.urlopen(f'{url}/healthz', timeout=20) as response:
        return json.loads(response.read())


def test_with_an_endpoint_configured_the_app_starts_and_health_reports_the_model(tmp_path: Path,
                                                                                  llmock: LLMock) -> None:
    with serving(tmp_path, OPENAI_BASE_URL=f'{llmock.base_url}/v1', OPENAI_API_KEY='test') as (url, _):
        assert health(url) == {'status': 'ok', 'database': 'ok', 'model': 'ok'}


def test_an_unreachable_model_endpoint_is_reported_without_failing_the_app(tmp_path: Path) -> None:
    closed = f'http://127.0.0.1:{free_port()}/v1'
    with serving(tmp_path, OPENAI_BASE_URL=closed, OPENAI_API_KEY='test') as (url, _):
        assert health(url) == {'status': 'ok', 'database': 'ok', 'model': 'unreachable'}


def test_the_demo_model_is_reported_as_such(tmp_path: Path) -> None:
    with serving(tmp_path) as (url, _):
        assert health(url)['model'] == 'demo'


def test_what_the_app_writes_is_readable_by_its_user_only(tmp_path: Path) -> None:
    """The database, the storage secret and the login sessions hold what nobody else on the machine may read."""
    (tmp_path / 'data').mkdir(mode=0o755)  # as the checkout's data/ is
    (tmp_path / 'data').chmod(0o755)
    with serving(tmp_path) as (url, _), urllib.request.urlopen(f'{url}/', timeout=20) as response:
        response.read()  # a page: a session for this browser
    data = tmp_path / 'data'
    written = [data, *data.rglob('*')]
    assert {path.name for path in written} >= {'data', 'chatapp.db', 'storage_secret'}
    loose = {str(path.relative_to(tmp_path)): oct(path.stat().st_mode & 0o777) for path in written
             if path.stat().st_mode & 0o077}
    assert loose == {}
    assert data.stat().st_mode & 0o777 == 0o700
