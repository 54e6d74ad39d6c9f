"""Runs `python -m chatapp` with cProfile switched on by SIGUSR1 and dumped by SIGUSR2 (bench --profile).

    python bench/_profiled_app.py OUT.prof --host 127.0.0.1 --port 8080

The app's event loop runs in the main thread, so this sees the whole hot path of a streamed reply
(aiosqlite's worker thread is not included). Timing is the main thread's CPU time: with wall time,
time the process spends descheduled (2 cores shared with Chromium) lands on whatever call was running.
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
import time

profile = cProfile.Profile(time.thread_time)  # CPU time of the main thread, not wall time
out = sys.argv.pop(1)


def _start(*_: object) -> None:
    profile.enable()


def _stop(*_: object) -> None:
    profile.disable()
    profile.dump_stats(out)


signal.signal(signal.SIGUSR1, _start)
signal.signal(signal.SIGUSR2, _stop)
sys.argv[0] = 'chatapp'
runpy.run_module('chatapp', run_name='__main__', alter_sys=True)
