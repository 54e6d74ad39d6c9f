"""The scaled-out deployment of docs/deploy.md on loopback: app instances started the way chatapp@.service
starts them, with chatapp.env.example's settings, behind nginx running docs/deploy/nginx.conf.template.

Used by tests/scale and bench/scale_bench.py. Only the addresses, paths and secrets of the deploy files are
replaced (ports, temporary folders, a self-signed certificate); everything else is the files as shipped.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from tests.conftest import NoRedirect, free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / 'docs' / 'deploy'
NGINX_TEMPLATE = DEPLOY / 'nginx.conf.template'
UNIT = DEPLOY / 'chatapp@.service'
ENV_EXAMPLE = DEPLOY / 'chatapp.env.example'
BACKUP_SCRIPT = DEPLOY / 'backup.sh'
NGINX = shutil.which('nginx') or '/usr/sbin/nginx'
ROUTE_COOKIE = 'chatapp_route'
# what `envsubst` is told to replace in the template (docs/deploy.md names the same list)
TEMPLATE_VARIABLES = ('CHATAPP_SERVER_NAME', 'CHATAPP_PUBLIC_URL', 'NGINX_HTTP_LISTEN', 'NGINX_HTTPS_LISTEN',
                      'TLS_CERTIFICATE', 'TLS_CERTIFICATE_KEY', 'CHATAPP_UPSTREAMS', 'NGINX_LOG_DIR')
# settings of chatapp.env.example that name real servers or secrets: a test run brings its own
LOGIN_AND_MODEL_PREFIXES = ('OIDC_', 'GITHUB_', 'OPENAI_', 'CHATAPP_ALLOWED_')


# --- the deploy files -----------------------------------------------------------------------------------

def envsubst(text: str, values: dict[str, str]) -> str:
    """What `envsubst '${A} ${B}'` does: replace exactly these ${NAME}s and leave nginx's $variables alone."""
    assert set(values) == set(TEMPLATE_VARIABLES), sorted(set(values) ^ set(TEMPLATE_VARIABLES))
    for name, value in values.items():
        text = text.replace('${' + name + '}', value)
    left = re.findall(r'\$\{[A-Z_]+\}', text)
    assert not left, f'placeholders left in the rendered template: {left}'
    return text


def upstream_lines(ports: list[int], host: str = '127.0.0.1') -> str:
    """${CHATAPP_UPSTREAMS}: one `server` line per instance, as docs/deploy.md has it."""
    return '\n'.join(f'    server {host}:{port} max_fails=1 fail_timeout=10s;' for port in ports)


def unit_entries(path: Path = UNIT) -> list[tuple[str, str, str]]:
    """(section, key, value) of a systemd unit file, in order (keys may repeat)."""
    entries, section = [], ''
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(('#', ';')):
            continue
        if line.startswith('[') and line.endswith(']'):
            section = line[1:-1]
            continue
        key, _, value = line.partition('=')
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_value(key: str, path: Path = UNIT) -> str:
    values = [value for _, name, value in unit_entries(path) if name == key]
    assert len(values) == 1, f'{path.name}: {key} is set {len(values)} times'
    return values[0]


def _specifiers(text: str, port: int, state_dir: Path) -> str:
    return text.replace('%i', str(port)).replace('%S', str(state_dir))


def unit_command(port: int, *, python: str = sys.executable) -> list[str]:
    """The unit's ExecStart for instance `port`, with this interpreter in place of /opt/chatapp's."""
    argv = shlex.split(_specifiers(unit_value('ExecStart'), port, Path('/nonexistent')))
    assert argv[0].endswith('/python'), argv
    return [python, *argv[1:]]


def unit_environment(port: int, state_dir: Path) -> dict[str, str]:
    """The unit's Environment= lines for instance `port`, with `state_dir` as systemd's %S (/var/lib)."""
    env = {}
    for _, key, value in unit_entries():
        if key == 'Environment':
            name, _, setting = _specifiers(value, port, state_dir).partition('=')
            env[name] = setting
    return env


def env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """A systemd EnvironmentFile: KEY=VALUE lines, comments and blank lines ignored."""
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith('#'):
            key, _, value = line.partition('=')
            env[key.strip()] = value.strip()
    return env


def instance_environment(port: int, state_dir: Path, **overrides: str) -> dict[str, str]:
    """Everything an instance gets: this process's environment without chatapp's settings, then the example
    env file without its login and model (we bring our own), the unit's Environment=, then `overrides`."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(('CHATAPP_', 'OPENAI_', 'OIDC_', 'GITHUB_', 'NICEGUI_', 'PYTEST_'))
           and name not in ('DATABASE_URL', 'REDIS_URL', 'FORWARDED_ALLOW_IPS')}
    env.update({key: value for key, value in env_file().items() if not key.startswith(LOGIN_AND_MODEL_PREFIXES)})
    env.update(unit_environment(port, state_dir))
    env.update(PYTHONUNBUFFERED='1', NO_PROXY='127.0.0.1,localhost', no_proxy='127.0.0.1,localhost')
    env.update(overrides)
    return env


# --- TLS and nginx -------------------------------------------------------------------------------------

def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and localhost), made with openssl; also the CA to trust for it."""
    cert, key = folder / 'tls.crt', folder / 'tls.key'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
                    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', str(key), '-out', str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


MAIN_CONF = '''# the test's stand-in for /etc/nginx/nginx.conf: everything in {root}, nothing outside it
daemon off;
{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/error.log notice;
events {{ worker_connections 2048; }}
http {{
    {mime_types}
    default_type application/octet-stream;
    client_body_temp_path {root}/tmp/client_body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    access_log off;
    include {root}/sites-enabled/chatapp;
}}
'''


class Nginx:
    """nginx on loopback with the rendered template: https on `port`, the plain-http redirect on `http_port`."""

    def __init__(self, root: Path, upstream_ports: list[int], *, port: int | None = None) -> None:
        self.root = root
        self.upstream_ports = list(upstream_ports)
        self.port = port or free_port()
        self.http_port = free_port()
        self.base_url = f'https://127.0.0.1:{self.port}'
        self.logs = root / 'logs'
        self.access_log = self.logs / 'chatapp.access.log'
        self.error_log = self.logs / 'error.log'
        self.site_error_log = self.logs / 'chatapp.error.log'
        self.main_conf = root / 'nginx.conf'
        self.process: subprocess.Popen | None = None
        for folder in (root, self.logs, root / 'tmp', root / 'sites-enabled'):
            folder.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = self_signed_certificate(root)
        self.tls = ssl.create_default_context(cafile=str(self.cert))

    def template_values(self) -> dict[str, str]:
        return {
            'CHATAPP_SERVER_NAME': '127.0.0.1',
            'CHATAPP_PUBLIC_URL': self.base_url,
            'NGINX_HTTP_LISTEN': f'127.0.0.1:{self.http_port}',
            'NGINX_HTTPS_LISTEN': f'127.0.0.1:{self.port}',
            'TLS_CERTIFICATE': str(self.cert),
            'TLS_CERTIFICATE_KEY': str(self.key),
            'CHATAPP_UPSTREAMS': upstream_lines(self.upstream_ports),
            'NGINX_LOG_DIR': str(self.logs),
        }

    def write_config(self) -> Path:
        site = envsubst(NGINX_TEMPLATE.read_text(), self.template_values())
        (self.root / 'sites-enabled' / 'chatapp').write_text(site)
        mime_types = '/etc/nginx/mime.types'
        self.main_conf.write_text(MAIN_CONF.format(
            root=self.root, user='user root;' if os.geteuid() == 0 else '',
            mime_types=f'include {mime_types};' if os.path.exists(mime_types) else ''))
        return self.main_conf

    def command(self, *extra: str) -> list[str]:
        return [NGINX, '-p', str(self.root), '-c', str(self.main_conf), '-e', str(self.error_log), *extra]

    def check_config(self) -> None:
        """`nginx -t` on the rendered configuration: fails with nginx's own words."""
        done = subprocess.run(self.command('-t'), capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f'nginx -t failed:\n{done.stderr}'

    def start(self) -> None:
        self.write_config()
        self.check_config()
        out = (self.logs / 'nginx.out').open('ab')
        self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        out.close()
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f'nginx exited with {self.process.returncode}:\n{self.log_text()}')
            with contextlib.suppress(OSError), socket.create_connection(('127.0.0.1', self.port), timeout=1):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f'nginx did not listen on {self.port}:\n{self.log_text()}')
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def log_text(self) -> str:
        parts = []
        for path in (self.error_log, self.site_error_log, self.logs / 'nginx.out'):
            with contextlib.suppress(OSError):
                parts.append(f'--- {path.name}\n{path.read_text(errors="replace")[-5000:]}')
        return '\n'.join(parts)

    # --- requests through nginx ---------------------------------------------------------------------

    def get(self, path: str, *, route: str | None = None, timeout: float = 5.0, https: bool = True):
        """A GET through nginx (no redirects followed); returns (status, headers, body)."""
        base = self.base_url if https else f'http://127.0.0.1:{self.http_port}'
        request = urllib.request.Request(base + path)
        if route is not None:
            request.add_header('Cookie', f'{ROUTE_COOKIE}={route}')
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(
            context=self.tls), NoRedirect())
        try:
            with opener.open(request, timeout=timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def access_lines(self) -> list[dict[str, str]]:
        """The access log, parsed: request, status, upstream (the instance that answered last) and route."""
        lines = []
        with contextlib.suppress(FileNotFoundError):
            for line in self.access_log.read_text(errors='replace').splitlines():
                match = re.search(r'"(?P<request>[^"]*)" (?P<status>\d+) \d+ upstream=(?P<upstream>.*?) '
                                  r'route=(?P<route>\S*) rt=', line)
                if match:
                    fields = match.groupdict()
                    fields['upstream'] = fields['upstream'].split(',')[-1].split(':')[-1].strip()
                    lines.append(fields)
        return lines

    def served_by(self, route: str, timeout: float = 5.0) -> int | None:
        """Which instance (port) nginx sends requests with this route cookie to now; None if none answered."""
        marker = uuid.uuid4().hex
        status, _, _ = self.get(f'/healthz?probe={marker}', route=route)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.access_lines():
                if marker in line['request']:
                    return int(line['upstream']) if status == 200 and line['upstream'].isdigit() else None
            time.sleep(0.05)
        raise TimeoutError(f'the probe {marker} did not reach the access log {self.access_log}')

    def route_to(self, port: int, timeout: float = 30.0) -> str:
        """A route cookie value that nginx sends to the instance on `port` (waits while nginx still counts
        that instance as failed, for up to `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            for number in range(64):
                route = f'pin-{number}'
                if self.served_by(route) == port:
                    return route
            if time.monotonic() > deadline:
                raise TimeoutError(f'no route cookie reaches the instance on port {port}\n{self.log_text()}')
            time.sleep(1)


# --- app instances -------------------------------------------------------------------------------------

class Instance:
    """`python -m chatapp` as chatapp@<port>.service runs it: the unit's ExecStart, working directory and
    Environment=, the example env file, and `overrides` (database, Redis, secret, public URL, model)."""

    def __init__(self, root: Path, port: int, **overrides: str) -> None:
        self.root = root
        self.port = port
        self.name = f'chatapp@{port}'
        self.base_url = f'http://127.0.0.1:{port}'
        self.state_dir = root / 'state'  # systemd's %S
        self.env = instance_environment(port, self.state_dir, **overrides)
        self.cwd = Path(_specifiers(unit_value('WorkingDirectory'), port, self.state_dir))
        self.log_path = root / f'{self.name}.log'
        self.popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self, timeout: float = 60.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it (several instances start faster side by side)."""
        self.cwd.mkdir(parents=True, exist_ok=True)  # systemd creates it: StateDirectory=chatapp/%i
        with self.log_path.open('ab') as log:
            log.write(f'--- starting {self.name}\n'.encode())
            log.flush()
            self.popen = subprocess.Popen(unit_command(self.port), cwd=self.cwd, env=self.env, stdout=log,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.popen is not None
        try:
            wait_healthy(f'{self.base_url}/healthz', self.popen, timeout)
        except BaseException:
            self.stop(hard=True)
            raise RuntimeError(f'{self.name} did not start:\n{self.tail(40)}') from None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.pid, signum)

    def stop(self, *, hard: bool = False, timeout: float = 30.0) -> int | None:
        """SIGTERM (as systemctl stop does), or SIGKILL; returns the exit code."""
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
        try:
            return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])
        except OSError:
            return ''


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


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f'{url}: the server exited with {process.returncode}')
        with contextlib.suppress(OSError), opener.open(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f'{url} did not answer 200 within {timeout} s')


def migrate(env: dict[str, str], cwd: Path) -> str:
    """`python -m chatapp migrate`, as docs/deploy.md runs it once before the instances start."""
    done = subprocess.run([sys.executable, '-m', 'chatapp', 'migrate'], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f'python -m chatapp migrate failed:\n{done.stdout}\n{done.stderr}'
    return done.stdout


# --- PostgreSQL and Redis ------------------------------------------------------------------------------

def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq (asyncpg, pg_dump) spells it."""
    from sqlalchemy.engine import make_url
    return make_url(url).set(drivername='postgresql').render_as_string(hide_password=False)


async def fresh_postgres(base_url: str, name: str) -> str:
    """A database of our own beside `base_url`'s (created once, so that other suites resetting that one
    cannot pull it away from under running instances), with an empty public schema. Falls back to
    `base_url` itself when the role may not create databases."""
    import asyncpg
    from sqlalchemy.engine import make_url
    url = make_url(base_url)
    connection = await asyncpg.connect(libpq_url(base_url))
    try:
        if not await connection.fetchval('SELECT 1 FROM pg_database WHERE datname = $1', name):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await connection.execute(f'CREATE DATABASE "{name}"')
        target = url.set(database=name).render_as_string(hide_password=False)
    except asyncpg.InsufficientPrivilegeError:
        target = base_url
    finally:
        await connection.close()
    connection = await asyncpg.connect(libpq_url(target))
    try:
        await connection.execute('DROP SCHEMA public CASCADE; CREATE SCHEMA public')
    finally:
        await connection.close()
    return target


async def fetch(database_url: str, query: str, *args: object) -> list[dict]:
    import asyncpg
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        return [dict(row) for row in await connection.fetch(query, *args)]
    finally:
        await connection.close()


def flush_redis(url: str) -> None:
    import redis
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
