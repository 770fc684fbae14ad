"""transcript corrections

A version on each transcript segment (1: as recognised) for optimistic concurrency, the
versions a correction replaced (`transcript_segment_versions`: the recognised text is kept), a
revision on each transcript (how many corrections) and on each summary (the revision it was
made from). Only columns are added to existing tables (no table is rebuilt on SQLite, so the
full-text triggers of 0002 on transcript_segments stay as they are).

Revision ID: 0009
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ADDED = (
    ("transcript_segments", "version", "1"),
    ("transcripts", "revision", "0"),
    ("video_summaries", "transcript_revision", "0"),
)


def upgrade() -> None:
    for table, column, default in _ADDED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(column, sa.Integer(), server_default=default, nullable=False)
            )
    op.create_table(
        "transcript_segment_versions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("transcript_id", sa.String(length=36), nullable=False),
        sa.Column("segment_position", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("speaker", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["transcript_id"],
            ["transcripts.id"],
            name=op.f("fk_transcript_segment_versions_transcript_id_transcripts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_segment_versions")),
        sa.UniqueConstraint(
            "transcript_id",
            "segment_position",
            "version",
            name=op.f("uq_transcript_segment_versions_transcript_id_segment_position_version"),
        ),
    )
    with op.batch_alter_table("transcript_segment_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transcript_segment_versions_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_transcript_segment_versions_transcript_id"),
            ["transcript_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("transcript_segment_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transcript_segment_versions_transcript_id"))
        batch_op.drop_index(batch_op.f("ix_transcript_segment_versions_created_at"))
    op.drop_table("transcript_segment_versions")
    for table, column, _ in reversed(_ADDED):
        if op.get_bind().dialect.name == "sqlite":
            # in place (SQLite >= 3.35): a batch rebuild would drop the full-text triggers
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        else:
            op.drop_column(table, column)
