"""Configuration: defaults, parsing, and the one-line refusals of `python -m chatapp`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chatapp.settings import ConfigError, load_settings, prepare_data_dir
from tests.conftest import free_port, wait_for_http

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
])
def test_bad_values_name_their_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


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
    port = free_port()
    app = subprocess.Popen([sys.executable, '-m', 'chatapp', '--port', str(port)], cwd=tmp_path,
                           env=app_environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_http(f'http://127.0.0.1:{port}/healthz', timeout=60, process=app)
        app.send_signal(signal.SIGTERM)
        output, _ = app.communicate(timeout=30)
    finally:
        app.kill()
    assert app.returncode == 0, output
    assert 'stopped; every reply is saved' in output and 'Traceback' not in output, output
