"""task and content hash of a video

The Whisper task a video is transcribed with ("transcribe", or "translate" into English; NULL:
transcribe, as every existing row was) and the sha256 of the uploaded bytes, computed while
the upload is streamed to storage, so a client that sends the same file again with the same
options finds the video it already registered. Only columns (and an index) are added.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("videos", recreate="never") as batch:
        batch.add_column(sa.Column("task", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
    op.create_index("ix_videos_content_sha256", "videos", ["content_sha256"])


def downgrade() -> None:
    op.drop_index("ix_videos_content_sha256", table_name="videos")
    with op.batch_alter_table("videos", recreate="never") as batch:
        batch.drop_column("content_sha256")
        batch.drop_column("task")
