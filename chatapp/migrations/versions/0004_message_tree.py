"""Messages form a tree: each has a parent, and a conversation remembers the last message of the branch
it shows (and the conversation it was forked from). A conversation from before is a single branch: each
message's parent is the one before it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message') as batch:
        batch.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch.create_index('ix_message_parent_id', ['parent_id'])
    with op.batch_alter_table('conversation') as batch:
        batch.add_column(sa.Column('leaf_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('forked_from', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
    op.execute('UPDATE message SET parent_id = (SELECT MAX(earlier.id) FROM message AS earlier '
               'WHERE earlier.conversation_id = message.conversation_id AND earlier.id < message.id)')
    op.execute('UPDATE conversation SET leaf_id = (SELECT MAX(message.id) FROM message '
               'WHERE message.conversation_id = conversation.id)')


def downgrade() -> None:
    with op.batch_alter_table('conversation') as batch:
        batch.drop_column('forked_from')
        batch.drop_column('leaf_id')
    with op.batch_alter_table('message') as batch:
        batch.drop_index('ix_message_parent_id')
        batch.drop_column('parent_id')
