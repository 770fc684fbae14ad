"""Stored passages: a few neighbouring segments of a transcript, the unit search returns.

Each passage holds its text, the span of the video it covers and its sentence embedding
(float32 bytes, L2-normalised, 384 numbers). On PostgreSQL with pgvector the same vector is
also in the column `embedding_vec` (type `vector(384)`, HNSW index), which is not in this
model: `vectors.py` writes and reads it (`fulltext_index.include_object` keeps schema
comparison away from it, as from the full-text indexes).
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vidigest.database.base import VIDEO_RESULT, Base, BigIntId


class SearchPassage(Base):
    __tablename__ = "search_passages"
    __table_args__ = {"info": {VIDEO_RESULT: True}}  # cleared on retry (and with the video)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    transcript_id: Mapped[str] = mapped_column(
        ForeignKey("transcripts.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)  # order within the transcript
    first_segment: Mapped[int] = mapped_column(Integer)  # segment positions, both included
    last_segment: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[float] = mapped_column(Float)
    end_time: Mapped[float] = mapped_column(Float)
    language: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
