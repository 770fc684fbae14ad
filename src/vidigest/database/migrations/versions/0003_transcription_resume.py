"""transcription resume and audio track

`transcripts` gets a state (in_progress while windows of long media are appended, complete with
status TRANSCRIBED), the position a restarted worker resumes at, and the count of segments
stored; `videos` gets the audio track to transcribe. Existing transcripts are complete; existing
videos use the first track. Only columns are added (no table is rebuilt on SQLite, so the
full-text triggers of 0002 on transcript_segments are untouched).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transcripts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), server_default="complete", nullable=False)
        )
        batch_op.add_column(sa.Column("resume_at", sa.Float(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("segment_count", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("audio_track", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("audio_track")
    with op.batch_alter_table("transcripts", schema=None) as batch_op:
        batch_op.drop_column("segment_count")
        batch_op.drop_column("resume_at")
        batch_op.drop_column("state")
