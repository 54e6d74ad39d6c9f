"""The scaled-out deployment of docs/deploy.md on loopback: app instances started the way chatapp@.service
starts them, with chatapp.env.example's settings, behind nginx running docs/deploy/nginx.conf.template.

Used by tests/scale and bench/scale_bench.py. Only the addresses, paths and secrets of the deploy files are
replaced (ports, temporary folders, a self-signed certificate); everything else is the files as shipped.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext

from tests.support.deploy import instance_environment, specifiers, unit_command, unit_value
from tests.support.nginx import ROUTE_COOKIE, Nginx
from tests.support.processes import Process


class Instance(Process):
    """`python -m chatapp` as chatapp@<port>.service runs it: the unit's ExecStart, working directory and
    Environment=, the example env file, and `overrides` (database, Redis, secret, public URL, model)."""

    def __init__(self, root: Path, port: int, **overrides: str) -> None:
        self.port = port
        self.url = f'http://127.0.0.1:{port}'
        self.state_dir = root / 'state'  # systemd's %S
        name = f'chatapp@{port}'
        cwd = Path(specifiers(unit_value('WorkingDirectory'), port, self.state_dir))  # made at launch, as systemd does
        super().__init__(name, unit_command(port), cwd=cwd, log_path=root / f'{name}.log',
                         env=instance_environment(port, self.state_dir, **overrides), health_url=f'{self.url}/healthz')


def start_all(instances: list[Instance]) -> None:
    """Start instances: the first alone, then the rest side by side. On a new database every instance's
    start-up creates the local user; two doing it at once collide on its unique index and the loser never
    becomes ready (chatapp/store.py upsert_user is a select-then-insert), so the first one goes ahead."""
    first, *rest = instances
    first.start()
    for instance in rest:
        instance.launch()
    for instance in rest:
        instance.wait_ready()


def migrate(env: dict[str, str], cwd: Path) -> str:
    """`python -m chatapp migrate`, as docs/deploy.md runs it once before the instances start."""
    done = subprocess.run([sys.executable, '-m', 'chatapp', 'migrate'], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f'python -m chatapp migrate failed:\n{done.stdout}\n{done.stderr}'
    return done.stdout


@dataclass
class Cluster:
    """Instances behind nginx, sharing a database."""

    instances: list[Instance]
    nginx: Nginx
    database_url: str
    routes: dict[int, str] = field(default_factory=dict)  # instance port -> a route cookie nginx sends there
    log_mark: int = 0  # access log lines before the current test's own requests

    def ensure_running(self) -> None:
        """Restart whatever instance a test stopped, and wait until nginx routes to every instance again."""
        stopped = [instance for instance in self.instances if not instance.alive()]
        for instance in stopped:
            instance.launch()
        for instance in stopped:
            instance.wait_ready()
        for instance in self.instances:
            self.routes[instance.port] = self.nginx.route_to(instance.port)
        self.log_mark = len(self.nginx.access_lines())

    @property
    def url(self) -> str:
        """What people open: nginx."""
        return self.nginx.base_url

    def route(self, index: int) -> str:
        return self.routes[self.instances[index].port]


def served_only_by(cluster: Cluster, index: int) -> None:
    """Every request of the profile pinned to instance `index` (pages, assets, socket.io) went there.
    nginx logs a WebSocket when it closes: close the profile's pages first."""
    route, port = cluster.route(index), str(cluster.instances[index].port)
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in cluster.nginx.access_lines()[cluster.log_mark:] if line['route'] == route]
        if any(line['request'].startswith('GET /_nicegui_ws/socket.io/') and line['status'] == '101'
               for line in lines):
            break
        assert time.monotonic() < deadline, f'no WebSocket through nginx with route {route}: {lines}'
        time.sleep(0.1)
    assert {line['upstream'] for line in lines} == {port}, lines


def new_context(browser: Browser, cluster: Cluster, route: str | None = None) -> BrowserContext:
    """A browser profile opening the app through nginx; with `route`, its route cookie is set beforehand,
    which pins it to the instance that key hashes to (a real browser gets a random one from nginx)."""
    context = browser.new_context(base_url=cluster.nginx.base_url, ignore_https_errors=True,
                                  viewport={'width': 1280, 'height': 900})
    context.set_default_timeout(15_000)
    context.set_default_navigation_timeout(30_000)
    if route is not None:
        set_route(context, cluster, route)
    return context


def set_route(context: BrowserContext, cluster: Cluster, route: str) -> None:
    """Give the browser profile this route cookie (replacing the one it has): nginx sends its next requests to
    the instance that key hashes to. Pages already connected keep their WebSocket to the instance they have."""
    context.add_cookies([{'name': ROUTE_COOKIE, 'value': route, 'url': cluster.nginx.base_url,
                          'secure': True, 'httpOnly': True, 'sameSite': 'Lax'}])
