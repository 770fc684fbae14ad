"""full-text search over transcript segments

SQLite: an external-content FTS5 table over transcript_segments(text), kept in step by triggers
(a batch ALTER of transcript_segments on SQLite recreates the table and drops these triggers:
such a migration must create them again). PostgreSQL: a GIN index on to_tsvector('english', text).
Neither object is in the SQLAlchemy models; vidigest.modules.search.fulltext_index.include_object
keeps schema comparison away from them.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE transcript_segments_fts USING fts5("
    "text, content='transcript_segments', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER transcript_segments_fts_ai AFTER INSERT ON transcript_segments BEGIN "
    "INSERT INTO transcript_segments_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER transcript_segments_fts_ad AFTER DELETE ON transcript_segments BEGIN "
    "INSERT INTO transcript_segments_fts(transcript_segments_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER transcript_segments_fts_au AFTER UPDATE OF text ON transcript_segments BEGIN "
    "INSERT INTO transcript_segments_fts(transcript_segments_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); "
    "INSERT INTO transcript_segments_fts(rowid, text) VALUES (new.id, new.text); END",
    # index the segments stored before this revision
    "INSERT INTO transcript_segments_fts(transcript_segments_fts) VALUES ('rebuild')",
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS transcript_segments_fts_au",
    "DROP TRIGGER IF EXISTS transcript_segments_fts_ad",
    "DROP TRIGGER IF EXISTS transcript_segments_fts_ai",
    "DROP TABLE IF EXISTS transcript_segments_fts",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_UP:
            op.execute(statement)
    else:
        op.execute(
            "CREATE INDEX ix_transcript_segments_text_fts ON transcript_segments "
            "USING gin (to_tsvector('english'::regconfig, text))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
    else:
        op.execute("DROP INDEX IF EXISTS ix_transcript_segments_text_fts")
