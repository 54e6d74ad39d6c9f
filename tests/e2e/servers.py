"""The processes the browser tests talk to: llmock (the model) and `python -m chatapp` (the app)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest

from tests.conftest import LLMock as LLM
from tests.conftest import free_port

CHUNK_DELAY_MS = 30      # llmock's pause between streamed words: a 60-word reply takes about two seconds
LLM_TIMEOUT_SECONDS = 3  # CHATAPP_LLM_TIMEOUT: a stalled stream fails after this; chunks come every 30 ms
STARTUP_SECONDS = 60
REPO_ROOT = Path(__file__).resolve().parents[2]

LOGS: list[LogFile] = []  # every log a failing test's report should show the new lines of


def wait_for_http(url: str, process: subprocess.Popen, log: LogFile, timeout: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f'{url}: the server exited with {process.returncode}\n{log.text()}')
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f'{url} did not answer 200 within {timeout} s\n{log.text()}')


def stop_process(process: subprocess.Popen | None, *, hard: bool = False) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextlib.contextmanager
def serving(name: str, command: list[str], root: Path, health_url: str) -> Iterator[subprocess.Popen]:
    """A helper server (the model) run for a test module, its log shown in failure reports."""
    log = LogFile(name, root / f'{name}.log')
    LOGS.append(log)
    with log.path.open('ab') as out:
        process = subprocess.Popen(command, cwd=root, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_http(health_url, process, log)
        log.mark = log.size()  # the start-up banner is no help in a failure report
        yield process
    finally:
        stop_process(process)
        LOGS.remove(log)


class LogFile:
    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        self.mark = 0

    def text(self, since: int = 0) -> str:
        try:
            with self.path.open('rb') as file:
                file.seek(since)
                return file.read().decode(errors='replace')
        except FileNotFoundError:
            return ''

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0


class App:
    """`python -m chatapp` as a subprocess on a free port, with its own data folder and working directory."""

    def __init__(self, root: Path, llm: LLM, **extra_env: str) -> None:
        self.root = root
        self.data_dir = root / 'data'
        self.port = free_port()
        self.base_url = f'http://127.0.0.1:{self.port}'
        self.log = LogFile('chatapp', root / 'chatapp.log')
        LOGS.append(self.log)
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(('CHATAPP_', 'OPENAI_', 'OIDC_', 'GITHUB_', 'NICEGUI_', 'PYTEST_'))
               and name != 'DATABASE_URL'}
        env.update({
            'CHATAPP_DATA_DIR': str(self.data_dir),
            'OPENAI_BASE_URL': f'{llm.base_url}/v1',
            'OPENAI_API_KEY': 'test',
            'CHATAPP_MODEL': 'gpt-4o-mini',
            'CHATAPP_LLM_MAX_RETRIES': '0',
            'CHATAPP_LLM_TIMEOUT': str(LLM_TIMEOUT_SECONDS),
            'CHATAPP_SENDS_PER_MINUTE': '0',  # tests send faster than people; tests/e2e/test_send_limit.py sets one
            'PYTHONUNBUFFERED': '1',
            # this checkout's chatapp, whatever is installed (an explicit PYTHONPATH still comes first)
            'PYTHONPATH': os.pathsep.join(filter(None, [os.environ.get('PYTHONPATH'), str(REPO_ROOT)])),
            **extra_env,
        })
        self.env = env
        self.process: subprocess.Popen | None = None

    def url(self, path: str = '/') -> str:
        return self.base_url + path

    def command(self) -> list[str]:
        return [sys.executable, '-m', 'chatapp', '--host', '127.0.0.1', '--port', str(self.port)]

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log.path.open('ab') as log:
            log.write(f'--- starting chatapp on port {self.port}\n'.encode())
            log.flush()
            self.process = subprocess.Popen(self.command(), cwd=self.root, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)
        try:
            wait_for_http(self.url('/healthz'), self.process, self.log)
        except BaseException:
            self.stop()
            raise

    def stop(self, *, hard: bool = False) -> None:
        stop_process(self.process, hard=hard)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        LOGS.remove(self.log)

    def restart(self, *, hard: bool = True) -> None:
        """Kill the process (SIGKILL by default: nothing gets a chance to save on the way out) and start again."""
        self.stop(hard=hard)
        self.start()


# --- logs of a failing test (a plugin: tests/conftest.py names this module in pytest_plugins) --------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    for log in LOGS:
        log.mark = log.size()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failing test's report shows what each server logged while it ran."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f'rep_{report.when}', report)
    if report.failed:
        for log in LOGS:
            text = log.text(log.mark)
            if text.strip():
                report.sections.append((f'{log.name} log ({report.when})', text[-20_000:]))
