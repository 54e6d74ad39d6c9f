"""Files attached to questions: their bytes stored once by content (blob), what each message attaches
(attachment), and what a message's attachments add to its prompt (message.attached_chars).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        'blob',
        sa.Column('sha256', text(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('sha256'),
    )
    op.create_table(
        'attachment',
        sa.Column('id', text(length=36), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', text(length=36), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('name', text(length=255), nullable=False),
        sa.Column('kind', text(length=16), nullable=False),
        sa.Column('media_type', text(length=100), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', text(length=64), nullable=False),
        sa.Column('thumbnail_sha256', text(length=64), nullable=True),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=True),
        sa.Column('text_chars', sa.Integer(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['message.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['sha256'], ['blob.sha256']),
        sa.ForeignKeyConstraint(['thumbnail_sha256'], ['blob.sha256']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_attachment_message', 'attachment', ['message_id', 'position'])
    op.create_index('ix_attachment_blob', 'attachment', ['sha256'])
    op.create_index('ix_attachment_thumbnail', 'attachment', ['thumbnail_sha256'])
    # a plain ADD COLUMN: a batch operation would rebuild the message table on SQLite
    op.add_column('message', sa.Column('attached_chars', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    op.drop_column('message', 'attached_chars')  # SQLite 3.35+ drops a column in place
    op.drop_index('ix_attachment_thumbnail', 'attachment')
    op.drop_index('ix_attachment_blob', 'attachment')
    op.drop_index('ix_attachment_message', 'attachment')
    op.drop_table('attachment')
    op.drop_table('blob')
