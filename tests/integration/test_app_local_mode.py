"""Local mode (no login provider configured): one local user, a visible marker, no login page, and
loopback only unless CHATAPP_ALLOW_ANONYMOUS=1."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.environment import app_environment
from tests.support.net import NoRedirect, free_port, wait_for_http


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-m', 'chatapp', *args], cwd=tmp_path,
                            env=app_environment(tmp_path / 'data', **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def stop_later() -> Iterator[list[subprocess.Popen]]:
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        process.terminate()
        process.communicate(timeout=15)


def test_beyond_loopback_without_login_is_refused_in_one_line(tmp_path: Path) -> None:
    process = run(tmp_path, '--host', '0.0.0.0', '--port', str(free_port()))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and 'CHATAPP_ALLOW_ANONYMOUS=1' in lines[0] and '0.0.0.0' in lines[0], stderr


def test_local_mode_serves_without_login_and_says_so(tmp_path: Path, stop_later: list[subprocess.Popen]) -> None:
    port = free_port()
    stop_later.append(process := run(tmp_path, '--host', '0.0.0.0', '--port', str(port), CHATAPP_ALLOW_ANONYMOUS='1'))
    url = f'http://127.0.0.1:{port}'
    wait_for_http(f'{url}/healthz', timeout=60, process=process)
    with urllib.request.urlopen(f'{url}/', timeout=10) as response:
        assert response.status == 200 and response.url == f'{url}/'
        page = response.read().decode()
    assert 'Local mode' in page and 'data-testid=logout' not in page
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(f'{url}/login', timeout=10)
    assert redirect.value.code == 303 and redirect.value.headers['location'] == '/'
