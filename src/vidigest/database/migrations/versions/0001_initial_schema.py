"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 04:20:07.469039
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The pieces every table repeats; the schema is the one the models declare (checked by
# tests/unit/test_migrations.py).


def _big_id() -> sa.Column[int]:
    """BIGINT autoincrement on PostgreSQL; SQLite only autoincrements "INTEGER PRIMARY KEY"."""
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def _json(name: str) -> sa.Column[object]:
    return sa.Column(
        name,
        sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
        nullable=False,
    )


def _created_at() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def _cascade(table: str, column: str, parent: str) -> sa.ForeignKeyConstraint:
    """`column` references `parent.id`; the row goes when its parent does."""
    return sa.ForeignKeyConstraint(
        [column],
        [f"{parent}.id"],
        name=op.f(f"fk_{table}_{column}_{parent}"),
        ondelete="CASCADE",
    )


def _index(table: str, *columns: str) -> None:
    """One single-column index `ix_<table>_<column>` per column."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def _drop(table: str, *indexed: str) -> None:
    """Drop the indexes `_index` created on `indexed`, then the table."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in indexed:
            batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
    op.drop_table(table)


def _one_per_video(table: str, *columns: sa.Column[object]) -> None:
    """A table of one result per video (transcript, summary): a string id, a unique video_id
    that goes with its video, `columns`, and an indexed created_at."""
    op.create_table(
        table,
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("video_id", sa.String(length=36), nullable=False),
        *columns,
        _created_at(),
        _cascade(table, "video_id", "videos"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("video_id", name=op.f(f"uq_{table}_video_id")),
    )
    _index(table, "created_at")


def _part_of_transcript(table: str, unique: list[str], *columns: sa.Column[object]) -> None:
    """Rows of a transcript (segments, words): a big id, an indexed transcript_id that goes with
    its transcript, `columns`, unique per (transcript_id, *unique)."""
    keys = ["transcript_id", *unique]
    op.create_table(
        table,
        _big_id(),
        sa.Column("transcript_id", sa.String(length=36), nullable=False),
        *columns,
        _cascade(table, "transcript_id", "transcripts"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint(*keys, name=op.f(f"uq_{table}_{'_'.join(keys)}")),
    )
    _index(table, "transcript_id")


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        _big_id(),
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("message_key", sa.String(length=255), nullable=True),
        sa.Column("message_id", sa.String(length=128), nullable=True),
        sa.Column("origin", sa.String(length=255), nullable=True),
        _json("headers"),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    _index("dead_letters", "created_at")

    op.create_table(
        "outbox_events",
        _big_id(),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("aggregate_type", sa.String(length=32), nullable=False),
        sa.Column("aggregate_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        _json("payload"),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_events_event_id")),
    )
    _index("outbox_events", "aggregate_id", "created_at")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_events_pending", ["published_at", "id"], unique=False)

    op.create_table(
        "processed_messages",
        _big_id(),
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processed_messages")),
        sa.UniqueConstraint(
            "consumer", "message_id", name=op.f("uq_processed_messages_consumer_message_id")
        ),
    )
    _index("processed_messages", "created_at")

    op.create_table(
        "videos",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("filename", sa.String(length=512), nullable=False),
        sa.Column("source_type", sa.String(length=16), nullable=False),
        sa.Column("source_uri", sa.Text(), nullable=False),
        sa.Column("media_path", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_videos")),
    )
    _index("videos", "created_at", "status")

    _one_per_video(
        "transcripts",
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("language_probability", sa.Float(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )

    op.create_table(
        "video_status_logs",
        _big_id(),
        sa.Column("video_id", sa.String(length=36), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        _created_at(),
        _cascade("video_status_logs", "video_id", "videos"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_status_logs")),
    )
    _index("video_status_logs", "created_at", "video_id")

    _one_per_video(
        "video_summaries",
        sa.Column("abstract", sa.Text(), nullable=False),
        _json("key_points"),
        _json("chapters"),
        _json("keywords"),
        sa.Column("method", sa.String(length=64), nullable=False),
        _json("details"),
    )

    _part_of_transcript(
        "transcript_segments",
        ["position"],
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.Float(), nullable=False),
        sa.Column("end_time", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    _part_of_transcript(
        "transcript_words",
        ["segment_position", "position"],
        sa.Column("segment_position", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.Float(), nullable=False),
        sa.Column("end_time", sa.Float(), nullable=False),
        sa.Column("text", sa.String(length=256), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    _drop("transcript_words", "transcript_id")
    _drop("transcript_segments", "transcript_id")
    _drop("video_summaries", "created_at")
    _drop("video_status_logs", "video_id", "created_at")
    _drop("transcripts", "created_at")
    _drop("videos", "status", "created_at")
    _drop("processed_messages", "created_at")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_events_pending")
    _drop("outbox_events", "created_at", "aggregate_id")
    _drop("dead_letters", "created_at")
