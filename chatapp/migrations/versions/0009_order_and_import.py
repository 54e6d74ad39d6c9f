"""Keeping conversations in order, each person their own way: pinned, archived, in a folder (on the conversation for
its owner, on the membership for a member); and what a conversation was imported from, so that importing the same
file again adds nothing.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

PLACE = ('conversation', 'conversation_member')
# (name, column, the place it indexes): the conversation table's partial indexes (as in models.py, spelled
# out here: a migration does not change with the models)
PLACE_INDEXES = (('pinned', 'pinned_at', 'pinned_at'), ('filed', 'folder_id', 'folder_id'),
                 ('archived', 'updated_at', 'archived_at'))


def upgrade() -> None:
    op.create_table(
        'folder',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_folder_user', 'folder', ['user_id'])
    # plain ADD COLUMNs: a batch operation would rebuild the conversation table on SQLite, and dropping the old one
    # would take the messages with it (ON DELETE CASCADE)
    for table in PLACE:
        op.add_column(table, sa.Column('pinned_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        op.add_column(table, sa.Column('archived_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        op.add_column(table, sa.Column('folder_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
    op.add_column('conversation', sa.Column('imported_from', sqlmodel.sql.sqltypes.AutoString(length=200),
                                            nullable=True))
    op.create_index('ix_conversation_user_imported', 'conversation', ['user_id', 'imported_from'], unique=True)
    # partial: the few conversations a person pinned, filed or archived, found without reading all of theirs
    for name, column, place in PLACE_INDEXES:
        where = sa.text(f'{place} IS NOT NULL')
        op.create_index(f'ix_conversation_user_{name}', 'conversation', ['user_id', column], sqlite_where=where,
                        postgresql_where=where)


def downgrade() -> None:
    for name, _, _ in PLACE_INDEXES:
        op.drop_index(f'ix_conversation_user_{name}', 'conversation')
    op.drop_index('ix_conversation_user_imported', 'conversation')
    for table in PLACE:
        for column in ('imported_from', 'folder_id', 'archived_at', 'pinned_at') if table == 'conversation' \
                else ('folder_id', 'archived_at', 'pinned_at'):
            op.drop_column(table, column)  # SQLite 3.35+ drops a column in place
    op.drop_index('ix_folder_user', 'folder')
    op.drop_table('folder')
