"""The servers tests and benchmarks talk to, as processes on loopback: llmock (an OpenAI-protocol server whose
replies and faults a test scripts), the paced model of fake_llm.py, and the app itself (`python -m chatapp`, or
diag_app.py: chatapp with a test-only diagnostics route)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
import urllib.request
from pathlib import Path
from typing import Protocol, Self

from tests.support.environment import app_environment
from tests.support.net import free_port, loopback_opener
from tests.support.processes import Process

CHUNK_DELAY_MS = 30      # llmock's pause between streamed words: a 60-word reply takes about two seconds
LLM_TIMEOUT_SECONDS = 3  # CHATAPP_LLM_TIMEOUT: a stalled stream fails after this; chunks come every 30 ms
FAKE_LLM = Path(__file__).with_name('fake_llm.py')


class ModelServer(Protocol):
    @property
    def base_url(self) -> str:
        """Where its OpenAI-protocol API is, less the /v1."""
        ...


class LLMock(Process):
    """llmock on a free port: a real OpenAI-protocol endpoint whose next replies and faults we script."""

    def __init__(self, root: Path, chunk_delay_ms: int = CHUNK_DELAY_MS) -> None:
        port = free_port()
        self.base_url = f'http://127.0.0.1:{port}'
        command = [sys.executable, '-c', 'from llmock.cli import app; app()', 'serve', '--host', '127.0.0.1',
                   '--port', str(port), '--stream-chunk-delay-ms', str(chunk_delay_ms), '--log-level', 'warning']
        super().__init__('llmock', command, cwd=root, health_url=f'{self.base_url}/health')

    def script(self, *behaviors: dict) -> None:
        self._post('/_llmock/scenario', {'behaviors': list(behaviors)})

    def reply(self, text: str) -> None:
        self.script({'type': 'reply', 'text': text})

    def reset(self) -> Self:
        """Nothing queued and an empty journal, for the next test."""
        self._post('/_llmock/reset', {})
        return self

    def pending(self) -> list[dict]:
        """Scripted behaviours not used yet."""
        return self._get('/_llmock/scenario')['pending']

    def requests(self) -> list[dict]:
        data = self._get('/_llmock/requests')
        return data.get('requests', data) if isinstance(data, dict) else data

    def _get(self, path: str) -> dict:
        with loopback_opener().open(self.base_url + path, timeout=5) as response:
            return json.loads(response.read())

    def _post(self, path: str, body: dict) -> None:
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(), method='POST',
                                         headers={'Content-Type': 'application/json'})
        with loopback_opener().open(request, timeout=5):
            pass


class FakeLLM(Process):
    """fake_llm.py on a free port: every reply is the same Markdown of `tokens` tokens, streamed at `rate`
    tokens a second; GET /tokens tells when it wrote each one."""

    def __init__(self, root: Path, *, tokens: int, rate: float, env: dict[str, str] | None = None,
                 technical: bool = False) -> None:
        port = free_port()
        self.base_url = f'http://127.0.0.1:{port}'
        command = [sys.executable, str(FAKE_LLM), '--port', str(port), '--tokens', str(tokens), '--rate', str(rate)]
        command += ['--technical'] if technical else []
        super().__init__('fake_llm', command, cwd=root, env=env, health_url=f'{self.base_url}/healthz')


def model_settings(llm: ModelServer) -> dict[str, str]:
    """An app's settings for answering with the model at `llm`: no retries, a short timeout, no send limit."""
    return {
        'OPENAI_BASE_URL': f'{llm.base_url}/v1',
        'OPENAI_API_KEY': 'test',
        'CHATAPP_MODEL': 'gpt-4o-mini',
        'CHATAPP_LLM_MAX_RETRIES': '0',
        'CHATAPP_LLM_TIMEOUT': str(LLM_TIMEOUT_SECONDS),
        'CHATAPP_SENDS_PER_MINUTE': '0',  # tests send faster than people; the send limit's tests set one
        'CHATAPP_TITLE_MODEL': 'off',  # a title request would take a reply a test scripted; the title tests set ''
    }


class App(Process):
    """`python -m chatapp` on `port` (a free one by default), with its data folder and working directory under
    `root`; with the model at `llm`, or without one the offline demo model. `settings` come last."""

    def __init__(self, root: Path, llm: ModelServer | None = None, *, port: int | None = None, **settings: str) -> None:
        self.port = port or free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.data_dir = root / 'data'
        model = model_settings(llm) if llm is not None else {}
        env = app_environment(self.data_dir, **(model | settings))
        super().__init__('chatapp', self.command(), cwd=root, env=env, health_url=f'{self.url}/healthz')

    def command(self) -> list[str]:
        return [sys.executable, '-m', 'chatapp', '--host', '127.0.0.1', '--port', str(self.port)]

    @property
    def database(self) -> Path:
        return self.data_dir / 'chatapp.db'

    def stored_replies(self, conversation_ids: list[str]) -> dict[str, tuple[str, str]]:
        """The (status, content) of each conversation's last assistant message, read from the app's SQLite file."""
        with contextlib.closing(sqlite3.connect(f'file:{self.database}?mode=ro', uri=True)) as connection:
            rows = connection.execute(
                'SELECT conversation_id, status, content FROM message WHERE role = ? ORDER BY id', ('assistant',))
            stored = {conversation: (status, content) for conversation, status, content in rows}
        return {conversation: stored.get(conversation, ('missing', '')) for conversation in conversation_ids}

    def users(self) -> list[dict]:
        """The users table as stored (read straight from the app's SQLite file)."""
        with sqlite3.connect(self.database) as connection:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute('SELECT * FROM user ORDER BY created_at')]

    def restart(self, *, hard: bool = True) -> None:
        """Kill the process (SIGKILL by default: nothing gets a chance to save on the way out) and start again."""
        self.stop(hard=hard)
        self.start()


class DiagApp(App):
    """The app started from diag_app.py, so that a test can read what the process holds (GET /_test/diagnostics)
    and how long its event loop was blocked."""

    def command(self) -> list[str]:
        return [sys.executable, '-m', 'tests.support.diag_app', '--host', '127.0.0.1', '--port', str(self.port)]
