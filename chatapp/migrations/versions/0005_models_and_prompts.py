"""Models and prompts: a conversation's model, system prompt and where its title came from; each reply's usage,
speed and cost; the model a person picked last; their presets; tokens spent besides replies (titles).
A conversation from before keeps its title: no model titles it afterwards.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table('user') as batch:
        batch.add_column(sa.Column('last_model', String(length=300), nullable=False, server_default=''))
    with op.batch_alter_table('conversation') as batch:
        batch.add_column(sa.Column('title_source', String(length=16), nullable=False, server_default='final'))
        batch.add_column(sa.Column('model', String(length=300), nullable=False, server_default=''))
        batch.add_column(sa.Column('system_prompt', sa.Text(), nullable=True))
    with op.batch_alter_table('message') as batch:
        batch.alter_column('model', type_=String(length=300), existing_type=String(length=200),
                           existing_nullable=False)
        batch.add_column(sa.Column('usage_estimated', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('first_token_ms', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('tokens_per_second', sa.Float(), nullable=True))
        batch.add_column(sa.Column('cost', sa.Float(), nullable=True))
    op.create_table(
        'preset',
        sa.Column('id', String(length=36), nullable=False),
        sa.Column('user_id', String(length=36), nullable=False),
        sa.Column('name', String(length=100), nullable=False),
        sa.Column('model', String(length=300), nullable=False),
        sa.Column('system_prompt', sa.Text(), nullable=True),
        sa.Column('starters', sa.Text(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_preset_user', 'preset', ['user_id'])
    op.create_table(
        'usage_record',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', String(length=36), nullable=False),
        sa.Column('conversation_id', String(length=36), nullable=True),
        sa.Column('purpose', String(length=16), nullable=False),
        sa.Column('model', String(length=300), nullable=False),
        sa.Column('prompt_tokens', sa.Integer(), nullable=False),
        sa.Column('completion_tokens', sa.Integer(), nullable=False),
        sa.Column('cost', sa.Float(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_usage_record_user_created', 'usage_record', ['user_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_usage_record_user_created', 'usage_record')
    op.drop_table('usage_record')
    op.drop_index('ix_preset_user', 'preset')
    op.drop_table('preset')
    with op.batch_alter_table('message') as batch:
        for column in ('cost', 'tokens_per_second', 'first_token_ms', 'usage_estimated'):
            batch.drop_column(column)
        batch.alter_column('model', type_=String(length=200), existing_type=String(length=300),
                           existing_nullable=False)
    with op.batch_alter_table('conversation') as batch:
        for column in ('system_prompt', 'model', 'title_source'):
            batch.drop_column(column)
    with op.batch_alter_table('user') as batch:
        batch.drop_column('last_model')
