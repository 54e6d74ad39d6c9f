"""Load-test fixtures: a paced model server and the app with its test-only diagnostics route, on loopback.

The app is tests/load/diag_app.py (chatapp plus GET /_test/diagnostics) run as a subprocess like
`python -m chatapp`; the model is bench/fake_llm.py, which streams a fixed Markdown reply at a set pace.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.servers import REPO_ROOT, App, free_port, serving

DIAG_APP = Path(__file__).with_name('diag_app.py')
FAKE_LLM = REPO_ROOT / 'bench' / 'fake_llm.py'
CHROMIUM = '/usr/bin/chromium'
REPLY_TOKENS = 300
REPLY_RATE = 30.0          # tokens/s: a reply streams for ten seconds
# the app's default (30 s) would make the test wait that long for the cleanup; with NiceGUI's 3 s the server
# drops a socket whose pong is 2 s late (its ping timeout is 0.4 x this), which a loaded 2-core machine often is
RECONNECT_TIMEOUT = 8.0


@dataclass(frozen=True)
class ModelServer:
    """What `App` needs of a model endpoint: its base URL (App appends /v1)."""
    base_url: str


class DiagApp(App):
    """The app under test, started from diag_app.py so that the test can read what the process holds."""

    def command(self) -> list[str]:
        return [sys.executable, str(DIAG_APP), '--host', '127.0.0.1', '--port', str(self.port)]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def database(self) -> Path:
        return self.data_dir / 'chatapp.db'


def require_chromium() -> None:
    """Skip outside CI when Debian's chromium is missing; under CI=true that is a failure."""
    if os.path.exists(CHROMIUM):
        return
    message = f'{CHROMIUM} is missing (bash tests/run installs it)'
    if os.environ.get('CI') == 'true':
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope='module')
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    port = free_port()
    command = [sys.executable, str(FAKE_LLM), '--port', str(port), '--tokens', str(REPLY_TOKENS),
               '--rate', str(REPLY_RATE)]
    with serving('fake_llm', command, tmp_path_factory.mktemp('fake_llm'), f'http://127.0.0.1:{port}/healthz'):
        yield ModelServer(f'http://127.0.0.1:{port}')


@pytest.fixture(scope='module')
def load_app(tmp_path_factory: pytest.TempPathFactory, model_server: ModelServer) -> Iterator[DiagApp]:
    with DiagApp(tmp_path_factory.mktemp('chatapp'), model_server,  # type: ignore[arg-type]
                 CHATAPP_RECONNECT_TIMEOUT=str(RECONNECT_TIMEOUT),
                 CHATAPP_LLM_TIMEOUT='30',  # 20 replies on two cores: a slow chunk is load, not a stall
                 # retries as deployed: a pooled connection the model server closes just as it is reused
                 # (its keep-alive ran out) fails one request now and then, which a retry takes care of
                 CHATAPP_LLM_MAX_RETRIES='2') as app:
        yield app

