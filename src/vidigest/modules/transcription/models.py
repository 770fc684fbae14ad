"""Stored transcripts: one per video, its segments, and the words of each segment."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vidigest.database.base import VIDEO_RESULT, Base, BigIntId, CreatedAtMixin, new_uuid

IN_PROGRESS = "in_progress"
COMPLETE = "complete"


class TranscriptRecord(CreatedAtMixin, Base):
    __tablename__ = "transcripts"
    __table_args__ = {"info": {VIDEO_RESULT: True}}  # cleared on retry (segments by cascade)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    # unique: a redelivered message can never store a second transcript for the same video
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), unique=True)
    language: Mapped[str] = mapped_column(String(16))
    language_probability: Mapped[float | None] = mapped_column(Float)
    duration: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(256))
    text: Mapped[str] = mapped_column(Text)  # filled in when complete
    # in_progress: windows are being appended as they are decoded (long media); a restarted
    # worker resumes at `resume_at` seconds with `segment_count` segments stored.
    # complete: written in the same transaction as status TRANSCRIBED and its event.
    state: Mapped[str] = mapped_column(String(16), default=COMPLETE, server_default=COMPLETE)
    resume_at: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    segment_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # how many corrections a user made (0: as recognised); each edit or replace adds one, and
    # its `transcript.edited` event carries the new number
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class TranscriptSegment(Base):
    __tablename__ = "transcript_segments"
    __table_args__ = (UniqueConstraint("transcript_id", "position"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    transcript_id: Mapped[str] = mapped_column(
        ForeignKey("transcripts.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[float] = mapped_column(Float)
    end_time: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    speaker: Mapped[str | None] = mapped_column(String(32))  # a label; None: not diarized
    # 1 as recognised; each correction adds one (an edit names the version it changes: a stale
    # one is refused). Earlier versions: `transcript_segment_versions`.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class TranscriptSegmentVersion(CreatedAtMixin, Base):
    """A version of a segment a correction replaced: the recognised text (version 1, source
    "asr") and each later one, so the original is never lost. Written when a segment is
    corrected (a segment never corrected has only its row in `transcript_segments`)."""

    __tablename__ = "transcript_segment_versions"
    __table_args__ = (UniqueConstraint("transcript_id", "segment_position", "version"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    transcript_id: Mapped[str] = mapped_column(
        ForeignKey("transcripts.id", ondelete="CASCADE"), index=True
    )
    segment_position: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    speaker: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # "asr", "edit" or "replace"


class TranscriptWord(Base):
    __tablename__ = "transcript_words"
    __table_args__ = (UniqueConstraint("transcript_id", "segment_position", "position"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    # (transcript, segment position) instead of a segment id: words insert in one batch
    # without first reading back the segments' generated ids.
    transcript_id: Mapped[str] = mapped_column(
        ForeignKey("transcripts.id", ondelete="CASCADE"), index=True
    )
    segment_position: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[float] = mapped_column(Float)
    end_time: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(String(256))
    probability: Mapped[float] = mapped_column(Float)
    speaker: Mapped[str | None] = mapped_column(String(32))


class TranscriptSpeaker(Base):
    """One speaker diarization found in a transcript: its label, the name a user (or a voice
    profile) gave it, its talk time, and its voice: the L2-normalised mean embedding of its
    speech (float32 bytes), kept so that it can be saved as a voice profile later. Never audio."""

    __tablename__ = "transcript_speakers"
    __table_args__ = (UniqueConstraint("transcript_id", "label"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    transcript_id: Mapped[str] = mapped_column(
        ForeignKey("transcripts.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(64))
    talk_time: Mapped[float] = mapped_column(Float)
    centroid: Mapped[bytes | None] = mapped_column(LargeBinary)


class TranscriptTurn(Base):
    """The speaker turns diarization found, as it found them: they cover speech the recognizer
    may have left out and are cut at the diarizer's resolution, not at words, so they are
    stored rather than rebuilt from the segments."""

    __tablename__ = "transcript_turns"
    __table_args__ = (UniqueConstraint("transcript_id", "position"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    transcript_id: Mapped[str] = mapped_column(
        ForeignKey("transcripts.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[float] = mapped_column(Float)
    end_time: Mapped[float] = mapped_column(Float)
    speaker: Mapped[str] = mapped_column(String(32))
