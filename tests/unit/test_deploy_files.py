"""The files of docs/deploy/ as shipped: docs/deploy.md points to every one of them and names every placeholder,
the systemd units are valid (`systemd-analyze verify` where systemd's tools are), and the example env file is a
configuration chatapp accepts.

(scale/test_nginx_template.py runs `nginx -t` on the template, integration/test_backup.py runs backup.sh, and the
end-to-end tests in scale/test_two_instances.py run the same nginx template, unit and env file.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from chatapp.settings import load_settings
from tests.support.deploy import (
    DEPLOY,
    ENV_EXAMPLE,
    NGINX_TEMPLATE,
    TEMPLATE_VARIABLES,
    env_file,
    unit_command,
    unit_environment,
    unit_value,
)

DEPLOY_MD = DEPLOY.parent / 'deploy.md'


def test_deploy_md_points_to_every_deploy_file_and_names_every_placeholder() -> None:
    doc = DEPLOY_MD.read_text()
    for path in sorted(DEPLOY.iterdir()):
        assert f'deploy/{path.name}' in doc, f'docs/deploy.md does not mention {path.name}'
    template = NGINX_TEMPLATE.read_text()
    placeholders = set(re.findall(r'\$\{([A-Z_]+)\}', template))
    assert placeholders == set(TEMPLATE_VARIABLES)
    command = re.search(r"envsubst '([^']+)'", doc)
    assert command, 'docs/deploy.md shows no envsubst command'
    assert set(re.findall(r'\$\{([A-Z_]+)\}', command.group(1))) == set(TEMPLATE_VARIABLES)
    # a placeholder in a comment would be replaced too, and a multi-line value would break out of it
    assert not any('${' in line for line in template.splitlines() if line.lstrip().startswith('#'))


def test_systemd_units_are_valid(tmp_path: Path) -> None:
    command = unit_command(8001, python='/usr/bin/python3')
    assert command[1:] == ['-m', 'chatapp', '--host', '127.0.0.1', '--port', '8001']
    assert unit_environment(8001, Path('/var/lib')) == {'CHATAPP_DATA_DIR': '/var/lib/chatapp/8001'}
    assert unit_value('KillSignal') == 'SIGTERM'
    grace = float(env_file()['CHATAPP_SHUTDOWN_GRACE'])
    assert float(unit_value('TimeoutStopSec')) >= grace + 15, 'systemd would kill replies still inside the grace'
    assert unit_value('EnvironmentFile') == '/etc/chatapp/chatapp.env'
    analyze = shutil.which('systemd-analyze')
    if analyze is None:  # the parse above still ran; verifying needs systemd's own tools
        return
    python = shutil.which('python3') or sys.executable
    for name in ('chatapp@.service', 'chatapp-backup.service', 'chatapp-backup.timer'):
        text = (DEPLOY / name).read_text().replace('/opt/chatapp/.venv/bin/python', python)
        (tmp_path / name.replace('@.', '@8001.')).write_text(text)
    units = sorted(str(path) for path in tmp_path.iterdir())
    done = subprocess.run([analyze, 'verify', *units], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_example_env_file_is_a_configuration_chatapp_accepts() -> None:
    settings = load_settings(env_file(ENV_EXAMPLE))
    assert settings.database.get_backend_name() == 'postgresql'
    assert settings.redis_url.startswith('redis://')
    assert settings.public_url.startswith('https://')
    assert settings.login_enabled  # instances of a team deployment always have a login
    assert settings.shutdown_grace == 20
