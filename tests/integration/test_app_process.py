"""`python -m chatapp` as a process: its one-line refusals of a bad configuration, a graceful stop on SIGTERM, the
proxy it believes, what /healthz reports, and what it writes to its data folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support import ROOT
from tests.support.environment import app_environment
from tests.support.net import NoRedirect, free_port, loopback_opener
from tests.support.servers import App, LLMock


def run_app(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`python -m chatapp` run to its end, with a clean environment and `env`."""
    return subprocess.run([sys.executable, '-m', 'chatapp', *args], cwd=tmp_path,
                          env=app_environment(tmp_path / 'data', **env), capture_output=True, text=True, timeout=60)


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


def test_sigterm_stops_the_app_with_exit_status_0(tmp_path: Path) -> None:
    """systemctl stop sends SIGTERM: after the graceful shutdown the process exits 0, not "killed by SIGTERM"."""
    with App(tmp_path) as app:
        code = app.stop(timeout=30)  # SIGTERM
    output = app.log.text()
    assert code == 0, output
    assert 'stopped; every reply is saved' in output and 'Traceback' not in output, output


def test_the_proxy_named_by_chatapp_forwarded_allow_ips_is_believed(tmp_path: Path) -> None:
    """X-Forwarded-Proto from a trusted address makes the login's redirect URI https. uvicorn's own variable says
    the opposite here: only our setting reaching ui.run explains an https URI."""
    with App(tmp_path, CHATAPP_FORWARDED_ALLOW_IPS='127.0.0.1', FORWARDED_ALLOW_IPS='10.9.9.9',
             GITHUB_CLIENT_ID='id', GITHUB_CLIENT_SECRET='secret') as app:
        request = urllib.request.Request(f'{app.url}/auth/github/login', headers={
            'Host': 'chat.example.test', 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '203.0.113.7'})
        opener = loopback_opener(NoRedirect())
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(request, timeout=10)
    location = answer.value.headers['Location']
    assert answer.value.code == 302 and location.startswith('https://github.com/login/oauth/authorize?'), location
    redirect_uri = parse_qs(urlsplit(location).query)['redirect_uri']
    assert redirect_uri == ['https://chat.example.test/auth/github/callback']


def health(url: str) -> dict:
    with urllib.request.urlopen(f'{url}/healthz', timeout=20) as response:
        return json.loads(response.read())


def settled_health(url: str, timeout: float = 10) -> dict:
    """/healthz once every endpoint's model list has been read: until then its status is 'unknown'."""
    deadline = time.monotonic() + timeout
    while True:
        answer = health(url)
        if 'unknown' not in (answer['model'], *answer['endpoints'].values()) or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def test_with_an_endpoint_configured_the_app_starts_and_health_reports_the_model(tmp_path: Path,
                                                                                  llmock: LLMock) -> None:
    with App(tmp_path, OPENAI_BASE_URL=f'{llmock.base_url}/v1', OPENAI_API_KEY='test') as app:
        assert settled_health(app.url) == {'status': 'ok', 'database': 'ok', 'model': 'ok',
                                           'endpoints': {'default': 'ok'}}


def test_an_unreachable_model_endpoint_is_reported_without_failing_the_app(tmp_path: Path) -> None:
    closed = f'http://127.0.0.1:{free_port()}/v1'
    with App(tmp_path, OPENAI_BASE_URL=closed, OPENAI_API_KEY='test') as app:
        assert settled_health(app.url) == {'status': 'ok', 'database': 'ok', 'model': 'unreachable',
                                           'endpoints': {'default': 'unreachable'}}


def test_the_demo_model_is_reported_as_such(tmp_path: Path) -> None:
    with App(tmp_path) as app:
        assert health(app.url) == {'status': 'ok', 'database': 'ok', 'model': 'demo', 'endpoints': {}}


def test_a_bad_models_file_stops_with_one_line_naming_the_entry(tmp_path: Path) -> None:
    models = tmp_path / 'models.toml'
    models.write_text('[endpoints.local]\nbase_url = "http://127.0.0.1:11434/v1"\n\n'
                      '[[models]]\nname = "llama3"\nendpoint = "local"\n\n'
                      '[[models]]\nname = "gpt-4o"\nendpoint = "cloud"\n')
    result = run_app(tmp_path, '--port', str(free_port()), CHATAPP_MODELS_FILE=str(models))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in result.stderr, result.stderr
    assert f'CHATAPP_MODELS_FILE {models}: models[1] (gpt-4o): endpoint \'cloud\'' in lines[0], lines[0]


def test_a_base_url_without_its_scheme_stops_with_one_line(tmp_path: Path) -> None:
    result = run_app(tmp_path, '--port', str(free_port()), OPENAI_BASE_URL='localhost:11434/v1')
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'OPENAI_BASE_URL' in lines[0] and 'Traceback' not in result.stderr, result.stderr


def test_a_models_file_with_one_endpoint_down_starts_and_reports_it_degraded(tmp_path: Path, llmock: LLMock) -> None:
    models = tmp_path / 'models.toml'
    models.write_text(f'''default_model = "up/gpt-4o-mini"

[endpoints.up]
base_url = "{llmock.base_url}/v1"

[endpoints.down]
base_url = "http://127.0.0.1:{free_port()}/v1"

[[models]]
name = "llama3"
endpoint = "down"
''')
    with App(tmp_path, CHATAPP_MODELS_FILE=str(models)) as app:
        answer = settled_health(app.url)
        assert answer == {'status': 'ok', 'database': 'ok', 'model': 'degraded',
                          'endpoints': {'up': 'ok', 'down': 'unreachable'}}, answer
        with urllib.request.urlopen(f'{app.url}/', timeout=20) as page:
            assert page.status == 200, 'the app serves'
    assert [r['path'] for r in llmock.requests()] == ['/v1/models']


def test_what_the_app_writes_is_readable_by_its_user_only(tmp_path: Path) -> None:
    """The database, the storage secret and the login sessions hold what nobody else on the machine may read."""
    (tmp_path / 'data').mkdir(mode=0o755)  # as the checkout's data/ is
    (tmp_path / 'data').chmod(0o755)
    with App(tmp_path) as app, urllib.request.urlopen(f'{app.url}/', timeout=20) as response:
        response.read()  # a page: a session for this browser
    data = tmp_path / 'data'
    written = [data, *data.rglob('*')]
    assert {path.name for path in written} >= {'data', 'chatapp.db', 'storage_secret'}
    loose = {str(path.relative_to(tmp_path)): oct(path.stat().st_mode & 0o777) for path in written
             if path.stat().st_mode & 0o077}
    assert loose == {}
    assert data.stat().st_mode & 0o777 == 0o700
