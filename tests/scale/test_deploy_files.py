"""The files of docs/deploy/ are valid as shipped: the nginx template renders and passes `nginx -t`, the systemd
units pass `systemd-analyze verify`, the example env file is a configuration chatapp accepts, and backup.sh
backs up and restores both databases. docs/deploy.md points to every one of them.

(The end-to-end tests in test_two_instances.py run the same nginx template, unit and env file.)
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from chatapp.settings import load_settings
from tests.conftest import POSTGRES_URL, reachable, require_service
from tests.scale.cluster import (
    BACKUP_SCRIPT,
    DEPLOY,
    ENV_EXAMPLE,
    NGINX,
    NGINX_TEMPLATE,
    TEMPLATE_VARIABLES,
    Nginx,
    env_file,
    envsubst,
    fetch,
    fresh_postgres,
    instance_environment,
    libpq_url,
    migrate,
    unit_command,
    unit_environment,
    unit_value,
)
from tests.scale.conftest import exclusive, run_async

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


def test_nginx_template_renders_and_passes_nginx_t(tmp_path: Path) -> None:
    require_service(os.access(NGINX, os.X_OK), f'nginx ({NGINX})')
    require_service(shutil.which('openssl') is not None, 'openssl')
    nginx = Nginx(tmp_path, [8001, 8002], port=8443)
    nginx.write_config()
    nginx.check_config()
    site = (tmp_path / 'sites-enabled' / 'chatapp').read_text()
    assert 'server 127.0.0.1:8001 max_fails=1 fail_timeout=10s;' in site
    assert 'hash $chatapp_route consistent;' in site
    if shutil.which('envsubst'):  # the documented command renders exactly what the tests run
        names = ' '.join('${' + name + '}' for name in TEMPLATE_VARIABLES)
        done = subprocess.run(['envsubst', names], input=NGINX_TEMPLATE.read_text(), capture_output=True, text=True,
                              env={**os.environ, **nginx.template_values()}, check=True)
        assert done.stdout == envsubst(NGINX_TEMPLATE.read_text(), nginx.template_values())


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


# --- backups ---------------------------------------------------------------------------------------------

def backup(folder: Path, env: dict[str, str]) -> Path:
    done = subprocess.run(['sh', str(BACKUP_SCRIPT), str(folder), '14'], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    target = Path(done.stdout.strip().splitlines()[-1])
    assert target.parent == folder and target.exists() and not list(folder.glob('*.partial'))
    return target


def test_backup_sh_backs_up_postgresql_and_pg_restore_brings_it_back(tmp_path: Path) -> None:
    require_service(reachable(POSTGRES_URL, 5432), 'PostgreSQL (TEST_POSTGRES_URL)')
    require_service(shutil.which('pg_dump') is not None and shutil.which('pg_restore') is not None,
                    'pg_dump and pg_restore (apt-get install postgresql-client)')
    with exclusive():
        source = run_async(fresh_postgres(POSTGRES_URL, 'chatapp_backup_source'))
        env = instance_environment(8001, tmp_path / 'state', DATABASE_URL=source)
        migrate(env, tmp_path)
        run_async(fetch(source, "INSERT INTO \"user\" (id, provider, subject, email, name, avatar_url, created_at, "
                                "last_login_at) VALUES ('u1', 'local', 'backup-check', '', 'Backup check', '', now(), "
                                "now()) RETURNING id"))
        dump = backup(tmp_path / 'backups', {**env, 'PATH': os.environ['PATH']})
        assert dump.suffix == '.dump'
        restored = run_async(fresh_postgres(POSTGRES_URL, 'chatapp_backup_restored'))
        done = subprocess.run(['pg_restore', '--no-owner', '--exit-on-error', '--dbname', libpq_url(restored),
                               str(dump)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        rows = run_async(fetch(restored, 'SELECT name FROM "user" WHERE subject = $1', 'backup-check'))
        assert rows == [{'name': 'Backup check'}]
        assert run_async(fetch(restored, 'SELECT count(*) AS n FROM alembic_version')) == [{'n': 1}]


def test_backup_sh_backs_up_sqlite_online(tmp_path: Path) -> None:
    require_service(shutil.which('sqlite3') is not None, 'the sqlite3 command (apt-get install sqlite3)')
    data = tmp_path / 'data'
    env = {key: value for key, value in os.environ.items() if not key.startswith('CHATAPP_') and key != 'DATABASE_URL'}
    env['CHATAPP_DATA_DIR'] = str(data)
    migrate(env, tmp_path)  # the single-machine default: data/chatapp.db
    with sqlite3.connect(data / 'chatapp.db') as db:
        db.execute("INSERT INTO user (id, provider, subject, email, name, avatar_url, created_at, last_login_at) "
                   "VALUES ('u1', 'local', 'backup-check', '', 'Backup check', '', '2026-01-01', '2026-01-01')")
    copies = [backup(tmp_path / 'backups', env)]
    env['DATABASE_URL'] = f'sqlite+aiosqlite:///{data / "chatapp.db"}'
    copies.append(backup(tmp_path / 'backups-by-url', env))
    for copy in copies:
        assert copy.suffix == '.db'
        with sqlite3.connect(copy) as db:
            assert db.execute("SELECT name FROM user WHERE subject = 'backup-check'").fetchall() == [('Backup check',)]
