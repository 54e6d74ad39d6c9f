"""Alembic's environment: always run by chatapp.migrations on a connection it provides."""

from alembic import context
from sqlmodel import SQLModel

import chatapp.models  # noqa: F401  (the tables)
from chatapp.migrations import modelled

connection = context.config.attributes['connection']
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True,
                  include_object=modelled)
with context.begin_transaction():
    context.run_migrations()
