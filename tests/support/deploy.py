"""The files of docs/deploy as the deployment reads them: the nginx template with its placeholders, the systemd
unit of an instance, the example env file, the backup script."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from tests.support import ROOT
from tests.support.environment import clean_environment

DEPLOY = ROOT / 'docs' / 'deploy'
NGINX_TEMPLATE = DEPLOY / 'nginx.conf.template'
UNIT = DEPLOY / 'chatapp@.service'
ENV_EXAMPLE = DEPLOY / 'chatapp.env.example'
BACKUP_SCRIPT = DEPLOY / 'backup.sh'
# what `envsubst` is told to replace in the template (docs/deploy.md names the same list)
TEMPLATE_VARIABLES = ('CHATAPP_SERVER_NAME', 'CHATAPP_PUBLIC_URL', 'NGINX_HTTP_LISTEN', 'NGINX_HTTPS_LISTEN',
                      'TLS_CERTIFICATE', 'TLS_CERTIFICATE_KEY', 'CHATAPP_UPSTREAMS', 'NGINX_LOG_DIR')
# settings of chatapp.env.example that name real servers or secrets: a test run brings its own
LOGIN_AND_MODEL_PREFIXES = ('OIDC_', 'GITHUB_', 'OPENAI_', 'CHATAPP_ALLOWED_')


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


def specifiers(text: str, port: int, state_dir: Path) -> str:
    """systemd's %i (the instance: its port) and %S (the state folder, /var/lib) in a unit's value."""
    return text.replace('%i', str(port)).replace('%S', str(state_dir))


def unit_command(port: int, *, python: str = sys.executable) -> list[str]:
    """The unit's ExecStart for instance `port`, with this interpreter in place of /opt/chatapp's."""
    argv = shlex.split(specifiers(unit_value('ExecStart'), port, Path('/nonexistent')))
    assert argv[0].endswith('/python'), argv
    return [python, *argv[1:]]


def unit_environment(port: int, state_dir: Path) -> dict[str, str]:
    """The unit's Environment= lines for instance `port`, with `state_dir` as systemd's %S (/var/lib)."""
    env = {}
    for _, key, value in unit_entries():
        if key == 'Environment':
            name, _, setting = specifiers(value, port, state_dir).partition('=')
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
    env = clean_environment()
    env.update({key: value for key, value in env_file().items() if not key.startswith(LOGIN_AND_MODEL_PREFIXES)})
    env.update(unit_environment(port, state_dir))
    env.update(PYTHONUNBUFFERED='1', NO_PROXY='127.0.0.1,localhost', no_proxy='127.0.0.1,localhost')
    env.update(overrides)
    return env
