"""Markdown rendered off the event loop: a worker process with a time budget.

What is cheap (see `rendering.render_cost`) renders in place. The rest goes to one long-lived worker
process, one text at a time; a render that outlasts RENDER_SECONDS kills the worker (the next render
starts a new one) and the text shows as plain text with a note. Recent results are kept, so views that
show the same reply do not render it again. `python -m chatapp.render_worker [image hosts]` is the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import struct
import sys
from collections import OrderedDict

from chatapp import rendering
from chatapp.rendering import RENDER_ON_LOOP_COST, plain_html, render_cost, render_markdown

log = logging.getLogger(__name__)

RENDER_SECONDS = 5.0
MAX_RENDER_CHARS = 2_000_000  # longer is shown as text without trying
TOO_LONG_NOTE = 'Shown as plain text: it is too long to format.'
CACHED_CHARS = 8_000_000  # kept results, in characters of HTML: a few long replies, or many short ones
_LENGTH = struct.Struct('>Q')


class RenderWorker:
    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the worker's pipes belong to one event loop
        self._turn = asyncio.Lock()
        self._results: OrderedDict[bytes, str] = OrderedDict()  # by the text's digest: texts are not kept
        self._cached_chars = 0

    async def render(self, text: str) -> str:
        """The HTML of `text`; never an error, never more than RENDER_SECONDS of waiting."""
        if render_cost(text) <= RENDER_ON_LOOP_COST:
            return render_markdown(text)
        if len(text) > MAX_RENDER_CHARS:
            return plain_html(text, TOO_LONG_NOTE)
        key = hashlib.sha256(text.encode('utf-8', 'replace')).digest()
        if (html := self._results.get(key)) is not None:
            self._results.move_to_end(key)
            return html
        self._follow_loop()
        async with self._turn:
            try:
                async with asyncio.timeout(RENDER_SECONDS):
                    html = await self._ask(text)
            except BaseException as error:
                await self.close()  # mid-request the worker's answer would be out of step: start afresh
                if not isinstance(error, Exception):
                    raise
                log.warning('rendering %d characters failed (%r): shown as plain text', len(text), error)
                html = plain_html(text, rendering.PLAIN_NOTE)
        self._keep(key, html)
        return html

    def _keep(self, key: bytes, html: str) -> None:
        if key not in self._results:
            self._results[key] = html
            self._cached_chars += len(html)
        while self._cached_chars > CACHED_CHARS and self._results:
            self._cached_chars -= len(self._results.popitem(last=False)[1])

    async def _ask(self, text: str) -> str:
        process = await self._started()
        assert process.stdin is not None and process.stdout is not None
        data = text.encode('utf-8', 'replace')
        process.stdin.write(_LENGTH.pack(len(data)) + data)
        await process.stdin.drain()
        (length,) = _LENGTH.unpack(await process.stdout.readexactly(_LENGTH.size))
        return (await process.stdout.readexactly(length)).decode()

    async def _started(self) -> asyncio.subprocess.Process:
        if self._process is None or self._process.returncode is not None:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, '-m', 'chatapp.render_worker', *sorted(rendering.image_hosts()),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        return self._process

    def _follow_loop(self) -> None:
        """On another event loop (one test after another) the old worker cannot be talked to: start afresh."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._kill()
            self._process, self._loop, self._turn = None, loop, asyncio.Lock()

    def _kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, signal.SIGKILL)

    async def close(self) -> None:
        self._kill()
        process, self._process = self._process, None
        if process is not None and self._loop is asyncio.get_running_loop():
            await process.wait()


renderer = RenderWorker()  # one a process: the worker is shared like a thread pool would be


def serve() -> None:
    """The worker's loop: a length-prefixed text in on stdin, its HTML out on stdout, until stdin closes."""
    rendering.allow_image_hosts(sys.argv[1:])
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while header := source.read(_LENGTH.size):
        (length,) = _LENGTH.unpack(header)
        html = render_markdown(source.read(length).decode()).encode()
        sink.write(_LENGTH.pack(len(html)) + html)
        sink.flush()


if __name__ == '__main__':
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        serve()
