"""Whether a conversation is shared (someone besides its owner may read it): sidebars mark it, and a change to it
reaches every member's sidebar, without a query per row or per change.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN: a batch operation would rebuild the table on SQLite, and dropping the old one would take
    # the messages with it (ON DELETE CASCADE)
    op.add_column('conversation', sa.Column('shared', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute('UPDATE conversation SET shared = TRUE WHERE id IN (SELECT conversation_id FROM conversation_member)')


def downgrade() -> None:
    with op.batch_alter_table('conversation') as batch:
        batch.drop_column('shared')
