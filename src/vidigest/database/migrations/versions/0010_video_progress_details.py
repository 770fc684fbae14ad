"""what the video list shows while and after a video is processed

`videos` gets `stage_started_at` (when the current stage began: the ETA is the time it took per
percent so far), `detected_language` (the language the transcript is in, detected or given) and
`asr_model` (the model that actually transcribed it). Only columns are added (no table is rebuilt
on SQLite).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_started_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("detected_language", sa.String(length=16)))
        batch_op.add_column(sa.Column("asr_model", sa.String(length=256)))


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("asr_model")
        batch_op.drop_column("detected_language")
        batch_op.drop_column("stage_started_at")
