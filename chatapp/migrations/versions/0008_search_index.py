"""Full-text search over message text, kept in step with writes: on SQLite an FTS5 table with the trigram
tokenizer (substring matches, also in Chinese and Japanese, which have no spaces), filled by triggers; on
PostgreSQL a pg_trgm GIN index. Both leave out replies still streaming: a reply is indexed once, when it ends,
not at each save of its growing text.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_INDEXED = "status != 'streaming'"
SQLITE = [
    "CREATE VIRTUAL TABLE message_fts USING fts5(content, tokenize='trigram')",
    f'INSERT INTO message_fts(rowid, content) SELECT id, content FROM message WHERE {_INDEXED}',
    f'''CREATE TRIGGER message_fts_insert AFTER INSERT ON message WHEN new.{_INDEXED} BEGIN
          INSERT INTO message_fts(rowid, content) VALUES (new.id, new.content);
        END''',
    f'''CREATE TRIGGER message_fts_update AFTER UPDATE OF content, status ON message WHEN new.{_INDEXED} BEGIN
          DELETE FROM message_fts WHERE rowid = old.id;
          INSERT INTO message_fts(rowid, content) VALUES (new.id, new.content);
        END''',
    '''CREATE TRIGGER message_fts_delete AFTER DELETE ON message BEGIN
          DELETE FROM message_fts WHERE rowid = old.id;
        END''',
]
POSTGRESQL = [
    'CREATE EXTENSION IF NOT EXISTS pg_trgm',
    f'CREATE INDEX ix_message_content_trgm ON message USING gin (content gin_trgm_ops) WHERE {_INDEXED}',
]


def upgrade() -> None:
    for statement in SQLITE if op.get_bind().dialect.name == 'sqlite' else POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for name in ('insert', 'update', 'delete'):
            op.execute(f'DROP TRIGGER message_fts_{name}')
        op.execute('DROP TABLE message_fts')
    else:
        op.execute('DROP INDEX ix_message_content_trgm')
