"""An attached file inspected off the event loop: `files.inspect_file` in a child process with a time and a memory
limit, one process a file, a few at once. `python -m chatapp.attachments.reading` is the child: a name and the bytes
in on stdin, the result as JSON out on stdout, each length-prefixed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import sys
from typing import Any
from weakref import WeakKeyDictionary

from chatapp.attachments.files import FRAME, Inspected, Kind, Unreadable, clean_name

log = logging.getLogger(__name__)

INSPECT_SECONDS = 30.0
AT_ONCE = 2  # children at once: each may take a CPU and reading.MEMORY_BYTES
_turns: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = WeakKeyDictionary()


async def inspect(name: str, data: bytes) -> Inspected:
    """What the file holds, read by a child process (`python -m chatapp.attachments.reading`) with a time and
    memory limit: a hostile PDF or image cannot stall the event loop or take the server's memory. Raises
    Unreadable."""
    name = clean_name(name)
    async with _turn():
        process = await asyncio.create_subprocess_exec(
            sys.executable, '-m', 'chatapp.attachments.reading',
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        try:  # the child starts outside the time limit: a process started as the limit strikes would be lost
            async with asyncio.timeout(INSPECT_SECONDS):
                answer, _ = await process.communicate(_framed(name.encode()) + _framed(data))
        except TimeoutError:
            raise Unreadable(f'{name} took too long to read: it was not attached.') from None
        finally:  # on a timeout, and when the caller is cancelled
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
    return _result(name, answer, process.returncode)


def _turn() -> asyncio.Semaphore:
    """The semaphore of the running event loop (tests run one loop after another; a semaphore serves one)."""
    return _turns.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(AT_ONCE))


def _framed(data: bytes) -> bytes:
    return FRAME.pack(len(data)) + data


def _result(name: str, answer: bytes, returncode: int | None) -> Inspected:
    """The child's answer; a child that failed or ran out of memory answers nothing whole."""
    length = FRAME.unpack_from(answer)[0] if len(answer) >= FRAME.size else -1
    if returncode != 0 or length != len(answer) - FRAME.size:
        log.warning('inspecting %s failed: its process ended with status %s', name, returncode)
        raise Unreadable(f'{name} could not be read: it was not attached.')
    fields: dict[str, Any] = json.loads(answer[FRAME.size:])
    if 'error' in fields:
        raise Unreadable(fields['error'])
    return Inspected(**fields | {'kind': Kind(fields['kind']), 'thumbnail': base64.b64decode(fields['thumbnail'])})
