"""A video whose transcript is stored and indexed for search, as the pipeline leaves it (the
sample talk by default), without running speech recognition."""

from __future__ import annotations

from pathlib import Path

from tests.support.talks import build, load_topics
from vidigest.common.types import Transcript
from vidigest.database.session import Database, db_session_context
from vidigest.embedding.encoder import SentenceEncoder
from vidigest.modules.search.index import reindex_video
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.service import VideoService

_ENCODER: SentenceEncoder | None = None


def encoder() -> SentenceEncoder:
    """One encoder for the test run (the model loads once)."""
    global _ENCODER
    if _ENCODER is None:
        _ENCODER = SentenceEncoder()
    return _ENCODER


def sample_talk() -> Transcript:
    return build(load_topics()).transcript


def indexed_video(
    db: Database, transcript: Transcript | None = None, name: str = "talk.mp4"
) -> str:
    """Register a video, store `transcript` (the sample talk) and index it; its id."""
    with db_session_context(db.session_factory) as session:
        video = VideoService(session).register(
            media_path=Path(f"/media/{name}"), source_type="path", source_uri=f"/media/{name}"
        )
        TranscriptService(session).save(video.id, transcript or sample_talk())
        reindex_video(session, video.id, encoder())
        return video.id
