"""Load-test fixtures: a paced model server and the app with its test-only diagnostics route, on loopback.

The app is tests/support/diag_app.py (chatapp plus GET /_test/diagnostics) run as a subprocess like
`python -m chatapp`; the model is tests/support/fake_llm.py, which streams a fixed Markdown reply at a set pace.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import DiagApp, FakeLLM

REPLY_TOKENS = 300
REPLY_RATE = 30.0          # tokens/s: a reply streams for ten seconds
# the app's default (30 s) would make the test wait that long for the cleanup; with NiceGUI's 3 s the server
# drops a socket whose pong is 2 s late (its ping timeout is 0.4 x this), which a loaded 2-core machine often is
RECONNECT_TIMEOUT = 8.0


@pytest.fixture(scope='module')
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeLLM]:
    with FakeLLM(tmp_path_factory.mktemp('fake_llm'), tokens=REPLY_TOKENS, rate=REPLY_RATE) as server:
        yield server


@pytest.fixture(scope='module')
def load_app(tmp_path_factory: pytest.TempPathFactory, model_server: FakeLLM) -> Iterator[DiagApp]:
    with DiagApp(tmp_path_factory.mktemp('chatapp'), model_server,
                 CHATAPP_RECONNECT_TIMEOUT=str(RECONNECT_TIMEOUT),
                 CHATAPP_LLM_TIMEOUT='30',  # 20 replies on two cores: a slow chunk is load, not a stall
                 # retries as deployed: a pooled connection the model server closes just as it is reused
                 # (its keep-alive ran out) fails one request now and then, which a retry takes care of
                 CHATAPP_LLM_MAX_RETRIES='2') as app:
        yield app
