"""The search index of one video: its passages and their embeddings, stored in the caller's
transaction. The indexing step (`step.py`) builds it when the transcript completes and again
after each correction (`transcript.edited`), embedding outside any transaction;
`reindex_video(session, video_id, encoder)` does both in one call, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete
from sqlalchemy.orm import Session

from vidigest.common.types import Segment
from vidigest.modules.search.models import SearchPassage
from vidigest.modules.search.passages import Passage, build_passages
from vidigest.modules.search.vector_index import store_vectors, vector_status
from vidigest.modules.transcription.service import TranscriptService

F32 = npt.NDArray[np.float32]


class TextEncoder(Protocol):
    """What embeds text: `vidigest.embedding.encoder.SentenceEncoder` (unit vectors)."""

    def encode(self, sentences: Sequence[str], batch_size: int = 32) -> F32: ...


@dataclass(frozen=True)
class VideoIndex:
    """What the index of one transcript holds before it is stored."""

    transcript_id: str
    language: str
    passages: tuple[Passage, ...]
    vectors: F32  # (len(passages), 384), float32, unit rows


def build_index(
    transcript_id: str, language: str, segments: Sequence[Segment], encoder: TextEncoder
) -> VideoIndex:
    """Passages of `segments` and their embeddings (the long part; no transaction needed)."""
    passages = tuple(build_passages(segments))
    vectors = encoder.encode([p.text for p in passages])
    return VideoIndex(transcript_id, language, passages, vectors.astype(np.float32))


def store_index(session: Session, video_id: str, index: VideoIndex) -> int:
    """Replace the video's passages with `index` (idempotent); how many are stored."""
    session.execute(delete(SearchPassage).where(SearchPassage.video_id == video_id))
    rows = [
        SearchPassage(
            video_id=video_id,
            transcript_id=index.transcript_id,
            position=p.position,
            first_segment=p.first_segment,
            last_segment=p.last_segment,
            start_time=p.start,
            end_time=p.end,
            language=index.language,
            text=p.text,
            embedding=np.ascontiguousarray(vector, dtype=np.float32).tobytes(),
        )
        for p, vector in zip(index.passages, index.vectors, strict=True)
    ]
    session.add_all(rows)
    session.flush()
    if rows and vector_status(session.connection()).backend == "pgvector":
        store_vectors(
            session.connection(),
            [(row.id, vector) for row, vector in zip(rows, index.vectors, strict=True)],
        )
    return len(rows)


def reindex_video(session: Session, video_id: str, encoder: TextEncoder) -> int:
    """Rebuild the video's passages from its complete transcript, in the caller's
    transaction; a video without a complete transcript loses its passages. Returns how many
    passages it has now."""
    service = TranscriptService(session)
    record = service.find_record(video_id)
    if record is None:
        session.execute(delete(SearchPassage).where(SearchPassage.video_id == video_id))
        return 0
    segments = service.load(video_id).segments
    return store_index(
        session, video_id, build_index(record.id, record.language, segments, encoder)
    )
