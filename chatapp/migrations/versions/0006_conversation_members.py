"""Conversation members: teammates the owner brought in, as participants or viewers.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'conversation_member',
        sa.Column('conversation_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column('access', sa.String(length=16), nullable=False),
        sa.Column('added_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user.id']),
        sa.PrimaryKeyConstraint('conversation_id', 'user_id'),
    )
    op.create_index('ix_conversation_member_user', 'conversation_member', ['user_id'])


def downgrade() -> None:
    op.drop_index('ix_conversation_member_user', 'conversation_member')
    op.drop_table('conversation_member')
