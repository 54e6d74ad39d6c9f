"""A server (or tool) run as a subprocess: its output in a log file, in a process group of its own, stopped for
sure."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Self

from tests.support.logs import WATCHED, LogFile
from tests.support.net import wait_for_http

STARTUP_SECONDS = 60.0


class Process:
    """A subprocess whose output is appended to its log (a restart adds to it). As a context manager it is started
    and waited for, its log is watched (a failing test's report shows the new lines) and it is stopped at the end.
    """

    def __init__(self, name: str, command: list[str], *, cwd: Path, log_path: Path | None = None,
                 env: dict[str, str] | None = None, health_url: str = '') -> None:
        self.name = name
        self.command = command
        self.cwd = cwd
        self.env = env if env is not None else dict(os.environ)
        self.health_url = health_url  # answers 200 once the server is ready
        self.log = LogFile(name, log_path or cwd / f'{name}.log')
        self.popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None, f'{self.name} was never started'
        return self.popen.pid

    def start(self, timeout: float = STARTUP_SECONDS) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it (several servers start faster side by side)."""
        self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log.path.open('ab') as out:
            out.write(f'--- starting {self.name}\n'.encode())
            out.flush()
            self.popen = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout: float = STARTUP_SECONDS) -> None:
        """Wait until the health URL answers; a process that does not get there is killed."""
        try:
            wait_for_http(self.health_url, timeout=timeout, process=self.popen, log=self.log)
        except BaseException:
            self.stop(hard=True)
            raise

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.pid, signum)

    def stop(self, *, hard: bool = False, timeout: float = 15.0) -> int | None:
        """SIGTERM (a graceful stop, as systemctl stop sends), or SIGKILL when `hard`: nothing gets a chance to
        save on the way out. Its whole process group is killed if it has not exited after `timeout` seconds.
        Returns the exit status."""
        if self.popen is None:
            return None
        if self.alive():
            self.signal(signal.SIGKILL if hard else signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        return self.popen.returncode

    def tail(self, lines: int = 30) -> str:
        return self.log.tail(lines)

    def __enter__(self) -> Self:
        self.start()
        self.log.mark = self.log.size()  # its start-up is no help in a failure report
        WATCHED.append(self.log)
        return self

    def __exit__(self, *exc: object) -> None:
        WATCHED.remove(self.log)
        self.stop()


def rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS), in MB."""
    with open(f'/proc/{pid}/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f'no VmRSS for process {pid}')
