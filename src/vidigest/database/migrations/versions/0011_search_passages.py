"""search passages: meaning-based search

`search_passages`: a few neighbouring segments of a transcript with their span and sentence
embedding (float32 bytes), written by the indexing stage, deleted with the transcript and the
video. Keyword search over them: an FTS5 table with triggers on SQLite (porter stemming), a
GIN index on to_tsvector('english', text) on PostgreSQL. On PostgreSQL with pgvector also the
column `embedding_vec vector(384)` and its HNSW index (`vector_index.ensure_vector_index`,
which `vidigest db upgrade` runs again: a server that gains pgvector later gets them then).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vidigest.modules.search.vector_index import ensure_vector_index

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_FTS_UP = [
    "CREATE VIRTUAL TABLE search_passages_fts USING fts5("
    "text, content='search_passages', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER search_passages_fts_ai AFTER INSERT ON search_passages BEGIN "
    "INSERT INTO search_passages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER search_passages_fts_ad AFTER DELETE ON search_passages BEGIN "
    "INSERT INTO search_passages_fts(search_passages_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER search_passages_fts_au AFTER UPDATE OF text ON search_passages BEGIN "
    "INSERT INTO search_passages_fts(search_passages_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); "
    "INSERT INTO search_passages_fts(rowid, text) VALUES (new.id, new.text); END",
]
_SQLITE_FTS_DOWN = [
    "DROP TRIGGER IF EXISTS search_passages_fts_au",
    "DROP TRIGGER IF EXISTS search_passages_fts_ad",
    "DROP TRIGGER IF EXISTS search_passages_fts_ai",
    "DROP TABLE IF EXISTS search_passages_fts",
]


def upgrade() -> None:
    op.create_table(
        "search_passages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("video_id", sa.String(length=36), nullable=False),
        sa.Column("transcript_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("first_segment", sa.Integer(), nullable=False),
        sa.Column("last_segment", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.Float(), nullable=False),
        sa.Column("end_time", sa.Float(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["transcript_id"],
            ["transcripts.id"],
            name=op.f("fk_search_passages_transcript_id_transcripts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_search_passages_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_passages")),
    )
    op.create_index(op.f("ix_search_passages_transcript_id"), "search_passages", ["transcript_id"])
    op.create_index(op.f("ix_search_passages_video_id"), "search_passages", ["video_id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE_FTS_UP:
            op.execute(statement)
    else:
        op.execute(
            "CREATE INDEX ix_search_passages_text_fts ON search_passages "
            "USING gin (to_tsvector('english'::regconfig, text))"
        )
        ensure_vector_index(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_FTS_DOWN:
            op.execute(statement)
    op.drop_table("search_passages")  # its indexes (and the vector column) go with it
