"""Schema migrations (Alembic), shipped in the package: `python -m chatapp migrate` upgrades a database."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from chatapp.search import INDEX_OBJECTS

HERE = Path(__file__).parent


class SchemaState(StrEnum):
    EMPTY = 'empty'        # a new database: create the schema
    CURRENT = 'current'
    BEHIND = 'behind'      # an older schema: `python -m chatapp migrate`
    UNKNOWN = 'unknown'    # a revision this version does not know (a newer app wrote it)


def modelled(_object: object, name: str | None, _type: str, _reflected: bool, _compare_to: object) -> bool:
    """What comparing the schema with the models looks at: not the search index, which is SQL of its dialect."""
    return not (name or '').startswith(INDEX_OBJECTS)


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option('script_location', str(HERE))
    config.attributes['connection'] = connection
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def _state(connection: Connection) -> SchemaState:
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None:
        return SchemaState.EMPTY
    if revision == head():
        return SchemaState.CURRENT
    return SchemaState.BEHIND if revision in _known_revisions() else SchemaState.UNKNOWN


def _known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(_config(connection), revision)


async def schema_state(engine: AsyncEngine) -> SchemaState:
    async with engine.connect() as connection:
        return await connection.run_sync(_state)


MIGRATION_LOCK = 7_302_215_551  # a PostgreSQL advisory lock: instances starting together upgrade one by one


async def upgrade(engine: AsyncEngine, revision: str = 'head') -> None:
    async with engine.begin() as connection:
        if connection.dialect.name == 'postgresql':
            await connection.execute(text(f'SELECT pg_advisory_xact_lock({MIGRATION_LOCK})'))
        await connection.run_sync(_upgrade, revision)
