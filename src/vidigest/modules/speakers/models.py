"""Voice profiles: a name and the voice embedding of a speaker a user named, matched against
the speakers of later videos. Only the embedding is kept, never audio."""

from __future__ import annotations

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from vidigest.database.base import Base, CreatedAtMixin, new_uuid


class VoiceProfile(CreatedAtMixin, Base):
    # not a video result: retrying or deleting the source video keeps the profile
    __tablename__ = "voice_profiles"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32, L2-normalised
    source_video_id: Mapped[str | None] = mapped_column(
        ForeignKey("videos.id", ondelete="SET NULL")
    )
    source_speaker: Mapped[str | None] = mapped_column(String(32))
