"""An attached file inspected off the event loop: `files.inspect_file` in a child process with a time and a memory
limit, one process a file, a few at once. `python -m chatapp.attachments.worker` is the child: a name and the bytes
in on stdin, the result as JSON out on stdout, each length-prefixed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
import struct
import sys
from typing import Any, BinaryIO
from weakref import WeakKeyDictionary

from chatapp.attachments.files import Inspected, Kind, Unreadable, clean_name, inspect_file

log = logging.getLogger(__name__)

INSPECT_SECONDS = 30.0
AT_ONCE = 2  # children at once: each may take a CPU and MEMORY_BYTES
MEMORY_BYTES = 1536 * 2**20  # a child's address space: more than a 50-megapixel image needs to decode
_LENGTH = struct.Struct('>Q')
_turns: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = WeakKeyDictionary()


async def inspect(name: str, data: bytes) -> Inspected:
    """What the file holds, read by a child process (`python -m chatapp.attachments.worker`) with a time and
    memory limit: a hostile PDF or image cannot stall the event loop or take the server's memory. Raises
    Unreadable."""
    name = clean_name(name)
    async with _turn():
        process = await asyncio.create_subprocess_exec(
            sys.executable, '-m', 'chatapp.attachments.worker',
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
    return _LENGTH.pack(len(data)) + data


def _result(name: str, answer: bytes, returncode: int | None) -> Inspected:
    """The child's answer; a child that failed or ran out of memory answers nothing whole."""
    length = _LENGTH.unpack_from(answer)[0] if len(answer) >= _LENGTH.size else -1
    if returncode != 0 or length != len(answer) - _LENGTH.size:
        log.warning('inspecting %s failed: its process ended with status %s', name, returncode)
        raise Unreadable(f'{name} could not be read: it was not attached.')
    fields: dict[str, Any] = json.loads(answer[_LENGTH.size:])
    if 'error' in fields:
        raise Unreadable(fields['error'])
    return Inspected(**fields | {'kind': Kind(fields['kind']), 'thumbnail': base64.b64decode(fields['thumbnail'])})


# --- the child ------------------------------------------------------------------------------------------------


def _limit_memory() -> None:
    """A file that would take more than MEMORY_BYTES fails in the child (MemoryError, or the process ends), never
    in the server. Where there is no such limit (not on Unix), the time limit still holds."""
    try:
        import resource
    except ImportError:
        return
    with contextlib.suppress(ValueError, OSError):  # a lower hard limit stays, and so does an unsupported one
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def _read_framed(source: BinaryIO) -> bytes:
    (length,) = _LENGTH.unpack(source.read(_LENGTH.size))
    return source.read(length)


def serve() -> None:
    """The child: one file in, its inspection (or why it cannot be attached) out."""
    _limit_memory()
    source = sys.stdin.buffer
    name = _read_framed(source).decode()
    data = _read_framed(source)
    try:
        inspected = inspect_file(name, data)
        answer = dataclasses.asdict(inspected) | {'thumbnail': base64.b64encode(inspected.thumbnail).decode()}
    except Unreadable as error:
        answer = {'error': str(error)}
    sys.stdout.buffer.write(_framed(json.dumps(answer).encode()))
    sys.stdout.buffer.flush()


if __name__ == '__main__':
    serve()
