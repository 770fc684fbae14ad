"""speakers

Who said what: a nullable speaker label on transcript segments and words; the
speakers of a transcript (label, name, talk time, voice centroid) and its speaker turns; voice
profiles (a name and an embedding, never audio); and the speaker options a video was
registered with. Existing rows are "not diarized" (NULL). Only columns are added to existing
tables (no table is rebuilt on SQLite, so the full-text triggers of 0002 stay as they are).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _big_id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def _of_transcript(table: str, unique: str, *columns: sa.Column[object]) -> None:
    """Rows of a transcript: a big id, an indexed transcript_id that goes with its transcript,
    `columns`, unique per (transcript_id, unique)."""
    op.create_table(
        table,
        _big_id(),
        sa.Column("transcript_id", sa.String(length=36), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(
            ["transcript_id"],
            ["transcripts.id"],
            name=op.f(f"fk_{table}_transcript_id_transcripts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint(
            "transcript_id", unique, name=op.f(f"uq_{table}_transcript_id_{unique}")
        ),
    )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f(f"ix_{table}_transcript_id"), ["transcript_id"], unique=False
        )


def upgrade() -> None:
    for table in ("transcript_segments", "transcript_words"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("speaker", sa.String(length=32), nullable=True))
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("speakers", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("min_speakers", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_speakers", sa.Integer(), nullable=True))
    _of_transcript(
        "transcript_speakers",
        "label",
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("talk_time", sa.Float(), nullable=False),
        sa.Column("centroid", sa.LargeBinary(), nullable=True),
    )
    _of_transcript(
        "transcript_turns",
        "position",
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.Float(), nullable=False),
        sa.Column("end_time", sa.Float(), nullable=False),
        sa.Column("speaker", sa.String(length=32), nullable=False),
    )
    op.create_table(
        "voice_profiles",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("source_video_id", sa.String(length=36), nullable=True),
        sa.Column("source_speaker", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_video_id"],
            ["videos.id"],
            name=op.f("fk_voice_profiles_source_video_id_videos"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_profiles")),
        sa.UniqueConstraint("name", name=op.f("uq_voice_profiles_name")),
    )
    with op.batch_alter_table("voice_profiles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_voice_profiles_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("voice_profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voice_profiles_created_at"))
    op.drop_table("voice_profiles")
    for table in ("transcript_turns", "transcript_speakers"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_transcript_id"))
        op.drop_table(table)
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("max_speakers")
        batch_op.drop_column("min_speakers")
        batch_op.drop_column("speakers")
    for table in ("transcript_words", "transcript_segments"):
        if op.get_bind().dialect.name == "sqlite":
            # in place (SQLite >= 3.35): a batch rebuild would drop the full-text triggers
            op.execute(f"ALTER TABLE {table} DROP COLUMN speaker")
        else:
            op.drop_column(table, "speaker")
