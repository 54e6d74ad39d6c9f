"""nginx on loopback running docs/deploy/nginx.conf.template, with a self-signed certificate; only the addresses,
paths and secrets are filled in."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from email.message import Message
from pathlib import Path

from tests.support.deploy import NGINX_TEMPLATE, envsubst, upstream_lines
from tests.support.net import NoRedirect, free_port, loopback_opener

NGINX = shutil.which('nginx') or '/usr/sbin/nginx'
ROUTE_COOKIE = 'chatapp_route'

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


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and localhost), made with openssl; also the CA to trust for it."""
    cert, key = folder / 'tls.crt', folder / 'tls.key'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
                    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', str(key), '-out', str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key
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

    def get(self, path: str, *, route: str | None = None, timeout: float = 5.0,
            https: bool = True) -> tuple[int, Message, bytes]:
        """A GET through nginx (no redirects followed); returns (status, headers, body)."""
        base = self.base_url if https else f'http://127.0.0.1:{self.http_port}'
        request = urllib.request.Request(base + path)
        if route is not None:
            request.add_header('Cookie', f'{ROUTE_COOKIE}={route}')
        opener = loopback_opener(urllib.request.HTTPSHandler(context=self.tls), NoRedirect())
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

