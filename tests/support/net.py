"""Loopback networking: free ports, waiting for a server to answer, urllib without proxies or redirects."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request

from tests.support.logs import LogFile


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """For urllib: a redirect is the answer to look at, not one to follow."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def loopback_opener(*handlers: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
    """urllib for servers on this machine: a proxy named in the environment is never asked."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), *handlers)


def wait_for_http(url: str, *, timeout: float = 20.0, process: subprocess.Popen | None = None,
                  log: LogFile | None = None) -> None:
    """Wait until `url` answers 200. Gives up early when `process` (the server) exits; the error shows the end
    of the server's `log`."""
    opener = loopback_opener()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f'{url}: the server exited with {process.returncode}{_tail(log)}')
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet, or not answering 200 yet
            pass
        time.sleep(0.1)
    raise TimeoutError(f'{url} did not answer 200 within {timeout:g} s{_tail(log)}')


def _tail(log: LogFile | None) -> str:
    return f'\n--- {log.name}\n{log.tail(40)}' if log is not None else ''
