"""Conversation members: teammates the owner brought in, as participants or viewers; read-only links; who wrote
each question (None for those from before: the conversation's owner); and when the model answers where several
people write.

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
    with op.batch_alter_table('message') as batch:
        batch.add_column(sa.Column('author_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
    op.create_table(
        'share_link',
        sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('conversation_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column('up_to', sa.Integer(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('last_opened_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token'),
    )
    op.create_index('ix_share_link_conversation', 'share_link', ['conversation_id'])
    with op.batch_alter_table('conversation') as batch:
        batch.add_column(sa.Column('model_answers', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                   server_default='every'))


def downgrade() -> None:
    op.drop_index('ix_share_link_conversation', 'share_link')
    op.drop_table('share_link')
    with op.batch_alter_table('conversation') as batch:
        batch.drop_column('model_answers')
    with op.batch_alter_table('message') as batch:
        batch.drop_column('author_id')
    op.drop_index('ix_conversation_member_user', 'conversation_member')
    op.drop_table('conversation_member')
