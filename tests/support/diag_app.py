"""chatapp as `python -m chatapp` runs it, plus one test-only route that reports what the process holds.

The load tests, the hostile content tests and bench/memory_bench.py start this module (servers.DiagApp:
`python -m tests.support.diag_app`) instead of `python -m chatapp`, so the app itself carries no diagnostic
endpoint. GET /_test/diagnostics answers loopback callers only.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import gc
import ipaddress
import time

from fastapi import Request
from fastapi.responses import JSONResponse
from nicegui import Client, app

from chatapp.__main__ import main


def _is_loopback(request: Request) -> bool:
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def _malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL('libc.so.6').malloc_trim(0)


def _kind(task: asyncio.Task) -> str:
    """What a task runs: its name without the numbers and ids, or its coroutine's for an unnamed one."""
    name = task.get_name()
    if name.startswith('Task-'):
        coro = task.get_coro()
        name = getattr(coro, '__qualname__', type(coro).__name__)
    return name.split(' ')[0].rstrip('-0123456789')


class LoopLag:
    """The longest the event loop was blocked since the last read: how late a 20 ms timer fired, counted only
    as far as the loop's thread was running meanwhile (time the process waited for a core blocks nothing
    of its own)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name='test-loop-lag')

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, cpu = loop.time() + 0.02, time.thread_time()
            await asyncio.sleep(0.02)
            late = loop.time() - due
            self.worst = max(self.worst, min(late, time.thread_time() - cpu))

    def read(self) -> float:
        worst, self.worst = self.worst, 0.0
        return worst


loop_lag = LoopLag()
app.on_startup(loop_lag.start)


class CollectorPauses:
    """The longest garbage collection since the last read: a pause of the whole process, not of one handler."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._started = 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, _info: dict) -> None:
        if phase == 'start':
            self._started = time.perf_counter()
        else:
            self.worst = max(self.worst, time.perf_counter() - self._started)

    def read(self) -> float:
        worst, self.worst = self.worst, 0.0
        return worst


collector_pauses = CollectorPauses()


@app.get('/_test/diagnostics', include_in_schema=False)
async def diagnostics(request: Request, collect: bool = False, trim: bool = False) -> JSONResponse:
    """Counts of NiceGUI clients, asyncio tasks and event-bus subscriptions. `collect=1` runs the garbage
    collector first, so cycles waiting for it are not mistaken for a leak; `trim=1` also hands glibc's free
    heap pages back to the system, so RSS then shows what live objects hold rather than what the allocator
    keeps for reuse."""
    if not _is_loopback(request):
        return JSONResponse({'detail': 'Not Found'}, status_code=404)
    if collect or trim:
        gc.collect()
    if trim:
        _malloc_trim()
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    names = collections.Counter(_kind(task) for task in tasks)
    services = app.state.services
    return JSONResponse({
        'clients': len(Client.instances),
        'connected': sum(1 for client in Client.instances.values() if client.has_socket_connection),
        'tasks': len(tasks),
        'task_names': dict(names.most_common()),
        'subscriptions': services.bus.subscriber_count(),
        'replies': services.engine.running_count,
        'user_storages': len(app.storage._users),
        'loop_lag_max': round(loop_lag.read(), 3),
        'gc_pause_max': round(collector_pauses.read(), 3),
    })


if __name__ in {'__main__', '__mp_main__'}:
    main()
