"""The video aggregate: one row per video, and its append-only status history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vidigest.common.constants import VideoStatus
from vidigest.database.base import Base, BigIntId, CreatedAtMixin, new_uuid, utcnow


class Video(CreatedAtMixin, Base):
    __tablename__ = "videos"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    filename: Mapped[str] = mapped_column(String(512))
    source_type: Mapped[str] = mapped_column(String(16))  # path | upload | url
    source_uri: Mapped[str] = mapped_column(Text)  # what the user gave
    media_path: Mapped[str] = mapped_column(Text)  # where workers read it
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=VideoStatus.REGISTERED, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # percent of the current stage
    language: Mapped[str | None] = mapped_column(String(16))  # requested; None = detect
    model: Mapped[str | None] = mapped_column(String(256))  # requested ASR model
    # which audio stream to transcribe (0: the first)
    audio_track: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # speakers to find: "auto", "off" or a count ("2"); None: the worker's VIDIGEST_SPEAKERS
    speakers: Mapped[str | None] = mapped_column(String(8))
    min_speakers: Mapped[int | None] = mapped_column(Integer)  # hints for "auto"
    max_speakers: Mapped[int | None] = mapped_column(Integer)
    # the Whisper task: "transcribe" or "translate" (into English); None: transcribe
    task: Mapped[str | None] = mapped_column(String(16))
    # sha256 of the uploaded bytes (None: not an upload, or registered before it was kept)
    content_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    duration: Mapped[float | None] = mapped_column(Float)
    stage_started_at: Mapped[datetime | None] = mapped_column()  # when the current stage began
    detected_language: Mapped[str | None] = mapped_column(String(16))  # the transcript's language
    asr_model: Mapped[str | None] = mapped_column(String(256))  # the model that transcribed it
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def awaits_download(self) -> bool:
        """A URL video whose download never finished: a retry downloads it again."""
        return self.source_type == "url" and not self.media_path


class VideoStatusLog(CreatedAtMixin, Base):
    __tablename__ = "video_status_logs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)


class MediaDeletion(CreatedAtMixin, Base):
    """A stored file to delete: written in the transaction that deletes its video (an outbox
    of deletions), removed once the store has deleted the file. A store that is down keeps
    the row, and the sweeper tries again: a deletion is never lost."""

    __tablename__ = "media_deletions"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    media_path: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
