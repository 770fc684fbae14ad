"""Stored summaries: one per video."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vidigest.database.base import VIDEO_RESULT, Base, CreatedAtMixin, JsonDocument, new_uuid


class VideoSummaryRecord(CreatedAtMixin, Base):
    __tablename__ = "video_summaries"
    __table_args__ = {"info": {VIDEO_RESULT: True}}  # cleared on retry

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), unique=True)
    abstract: Mapped[str] = mapped_column(Text)
    key_points: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    chapters: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    keywords: Mapped[list[str]] = mapped_column(JsonDocument)
    method: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    # the transcript revision it was made from (0: as recognised); behind the transcript's own
    # while a corrected transcript is summarised again
    transcript_revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
