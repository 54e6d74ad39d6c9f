"""Schema migrations on SQLite and PostgreSQL: a new database gets the schema, the migrated schema matches
the models, an older schema is upgraded with its data, and the app refuses to run on one that is behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from chatapp import migrations
from chatapp.db import Database, SchemaError
from chatapp.migrations import SchemaState
from tests.support.environment import app_environment

FIRST_RELEASE = '0001'


async def test_new_database_gets_the_current_schema(database_url: str) -> None:
    database = Database(database_url)
    assert await migrations.schema_state(database.engine) == SchemaState.EMPTY
    await database.prepare_schema()
    assert await migrations.schema_state(database.engine) == SchemaState.CURRENT
    async with database.engine.connect() as connection:
        differences = await connection.run_sync(lambda sync: compare_metadata(
            MigrationContext.configure(sync, opts={'include_object': migrations.modelled}), SQLModel.metadata))
    assert differences == [], 'the migrations must build exactly the tables the models describe'
    await database.close()


async def test_upgrade_from_the_first_release_keeps_the_data(database_url: str) -> None:
    database = Database(database_url)
    await migrations.upgrade(database.engine, FIRST_RELEASE)
    async with database.engine.begin() as connection:
        await connection.execute(text(
            'INSERT INTO "user" (id, provider, subject, email, name, avatar_url, created_at, last_login_at) '
            "VALUES ('u1', 'local', 'local', '', 'Local', '', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        await connection.execute(text(
            "INSERT INTO conversation (id, user_id, title, created_at, updated_at) "
            "VALUES ('c1', 'u1', 'Kept', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
    await database.migrate()
    assert await migrations.schema_state(database.engine) == SchemaState.CURRENT
    async with database.engine.connect() as connection:
        assert (await connection.execute(text('SELECT title FROM conversation'))).scalar_one() == 'Kept'
    await database.close()


async def test_a_schema_that_is_behind_is_refused(database_url: str) -> None:
    database = Database(database_url)
    await migrations.upgrade(database.engine, FIRST_RELEASE)
    assert await migrations.schema_state(database.engine) == SchemaState.BEHIND
    with pytest.raises(SchemaError, match='python -m chatapp migrate'):
        await database.prepare_schema()
    await database.close()


async def test_a_schema_from_a_newer_version_is_refused(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    database = Database(database_url)
    await database.prepare_schema()
    monkeypatch.setattr(migrations, 'head', lambda: 'older-head')  # as if this were an older chatapp
    monkeypatch.setattr(migrations, '_known_revisions', lambda: {FIRST_RELEASE, 'older-head'})
    with pytest.raises(SchemaError, match='newer version'):
        await database.prepare_schema()
    await database.close()


def test_migrate_command_upgrades_and_says_so(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, '-m', 'chatapp', 'migrate'], cwd=tmp_path, env=app_environment(tmp_path),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'up to date' in result.stdout
    assert (tmp_path / 'chatapp.db').exists()
