"""A correction goes through the event flow, embedded: real speech, the real models, the real
outbox, relay and summary step. The summary is made again from the corrected text, search
finds the new word and not the old, quick corrections make one summary, and the video stays
COMPLETED throughout."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support import media
from vidigest.app import Vidigest
from vidigest.common.constants import EventType, VideoStatus
from vidigest.common.stages import SUMMARY
from vidigest.config import Settings
from vidigest.database.session import db_session_context
from vidigest.messaging.models import OutboxEvent, ProcessedMessage
from vidigest.modules.search.service import keyword_passages, search_segments
from vidigest.modules.summary.service import VideoSummaryService
from vidigest.modules.transcription.editing import TranscriptEditService
from vidigest.modules.videos.service import VideoService, VideoStatusLogService

pytestmark = pytest.mark.slow

SPOKEN = (
    "Penguins live on the ice of Antarctica. Penguins dive deep to catch fish and krill. "
    "A penguin colony can hold thousands of birds."
)


def summary_text(app: Vidigest, video_id: str) -> str:
    with db_session_context(app.database.session_factory) as session:
        summary = VideoSummaryService(session).load(video_id)
    points = " ".join(k.text for k in summary.key_points)
    chapters = " ".join(f"{c.title} {c.summary}" for c in summary.chapters)
    return f"{summary.abstract} {points} {chapters}".lower()


def found(app: Vidigest, words: str) -> list[str]:
    with db_session_context(app.database.session_factory) as session:
        return [hit.video_id for hit in search_segments(session, words)]


def passages_with(app: Vidigest, word: str) -> int:
    """How many indexed passages (what GET /search ranks) hold `word` (keyword, stemmed)."""
    with db_session_context(app.database.session_factory) as session:
        return len(keyword_passages(session, word, 100))


def summary_outcomes(app: Vidigest) -> list[str]:
    """What the summary worker did with each `transcript.edited` event, in order."""
    with db_session_context(app.database.session_factory) as session:
        rows = session.execute(
            select(ProcessedMessage.outcome)
            .join(OutboxEvent, OutboxEvent.event_id == ProcessedMessage.message_id)
            .where(
                ProcessedMessage.consumer == SUMMARY.consumer,
                OutboxEvent.event_type == EventType.TRANSCRIPT_EDITED.value,
            )
            .order_by(OutboxEvent.id)
        ).all()
    return [row.outcome for row in rows]


def count_events(app: Vidigest, event_type: EventType) -> int:
    with db_session_context(app.database.session_factory) as session:
        return len(
            session.scalars(
                select(OutboxEvent.id).where(OutboxEvent.event_type == event_type.value)
            ).all()
        )


def test_a_correction_is_summarised_again_and_searchable(tmp_path: Path) -> None:
    app = Vidigest.open(Settings(data_dir=tmp_path / "data"))
    try:
        video = app.register_upload(media.speech(tmp_path, SPOKEN))
        runtime = app.embedded_runtime()
        runtime.run_until_idle()
        with db_session_context(app.database.session_factory) as session:
            assert VideoService(session).get(video.id).status == VideoStatus.COMPLETED
            history_before = len(VideoStatusLogService(session).history(video.id))
        assert "penguin" in summary_text(app, video.id)
        assert found(app, "penguin") == [video.id]

        with db_session_context(app.database.session_factory) as session:
            result = TranscriptEditService(session).replace(video.id, "penguin", "walrus")
        assert result.count >= 3 and result.revision == 1
        # committed: search sees it at once, before any worker ran
        assert found(app, "walrus") == [video.id]
        assert found(app, "penguin") == []

        assert passages_with(app, "penguin") > 0  # the passages wait for the indexing stage
        runtime.run_until_idle()
        # the indexing stage consumed transcript.edited too: passages follow the correction
        assert passages_with(app, "walrus") > 0 and passages_with(app, "penguin") == 0
        text = summary_text(app, video.id)
        assert "walrus" in text and "penguin" not in text
        assert summary_outcomes(app) == ["processed"]
        with db_session_context(app.database.session_factory) as session:
            video_now = VideoService(session).get(video.id)
            assert (video_now.status, video_now.progress) == (VideoStatus.COMPLETED, 100.0)
            # no status round trip: the history is as it was
            assert len(VideoStatusLogService(session).history(video.id)) == history_before
            assert VideoSummaryService(session).stored_revision(video.id) == 1

        # three quick corrections before the worker runs: one summary, of the last one
        with db_session_context(app.database.session_factory) as session:
            edits = TranscriptEditService(session)
            _, segments = edits.segments(video.id)
            first = segments[0]
            for n, word in enumerate(["seal", "puffin", "albatross"]):
                edits.edit_segment(
                    video.id,
                    first.index,
                    version=first.version + n,
                    text=first.text.replace("walrus", word).replace("Walrus", word),
                )
        completed_before = count_events(app, EventType.SUMMARY_COMPLETED)
        runtime.run_until_idle()
        assert summary_outcomes(app) == ["processed", "skipped", "skipped", "processed"]
        assert count_events(app, EventType.SUMMARY_COMPLETED) == completed_before + 1
        text = summary_text(app, video.id)
        assert "albatross" in text and "seal" not in text and "puffin" not in text
        assert found(app, "albatross") == [video.id] and found(app, "puffin") == []
        with db_session_context(app.database.session_factory) as session:
            assert VideoSummaryService(session).stored_revision(video.id) == 4
    finally:
        app.close()
