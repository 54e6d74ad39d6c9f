"""docs/deploy/backup.sh backs up both databases: PostgreSQL (pg_restore brings the dump back) and SQLite (online,
with the default data folder or DATABASE_URL)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from tests.support.cluster import migrate
from tests.support.databases import (
    POSTGRES_URL,
    exclusive,
    fetch,
    fresh_postgres,
    libpq_url,
    require_postgres,
    run_async,
)
from tests.support.deploy import BACKUP_SCRIPT, instance_environment
from tests.support.environment import app_environment, require


def backup(folder: Path, env: dict[str, str]) -> Path:
    done = subprocess.run(['sh', str(BACKUP_SCRIPT), str(folder), '14'], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    target = Path(done.stdout.strip().splitlines()[-1])
    assert target.parent == folder and target.exists() and not list(folder.glob('*.partial'))
    return target


def test_backup_sh_backs_up_postgresql_and_pg_restore_brings_it_back(tmp_path: Path) -> None:
    require_postgres()
    require(shutil.which('pg_dump') is not None and shutil.which('pg_restore') is not None,
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
    require(shutil.which('sqlite3') is not None, 'the sqlite3 command (apt-get install sqlite3)')
    data = tmp_path / 'data'
    env = app_environment(data)
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
