"""media deletions: the outbox of stored files to delete

A video's delete writes the file to delete here in the same transaction; the row goes once
the media store (the local directory or the bucket) has deleted the file, so a store that is
down when the video is deleted only delays the deletion.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_deletions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("media_path", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_deletions")),
    )
    with op.batch_alter_table("media_deletions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_media_deletions_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("media_deletions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_deletions_created_at"))
    op.drop_table("media_deletions")
