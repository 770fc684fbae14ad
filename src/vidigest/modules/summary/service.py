"""The summary worker's domain part, and stored summaries."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from vidigest.common.constants import Consumer, EventType, VideoStatus
from vidigest.common.exceptions import NotFoundError
from vidigest.common.types import (
    Chapter,
    Event,
    KeyPoint,
    ProgressReporter,
    Summary,
    SummaryCompleted,
    Transcript,
    TranscriptionCompleted,
)
from vidigest.database.base import new_uuid
from vidigest.database.repository import GenericRepository
from vidigest.database.session import SessionFactory
from vidigest.messaging.codec import parse_payload
from vidigest.messaging.outbox import OutboxService
from vidigest.modules.summary.models import VideoSummaryRecord
from vidigest.modules.transcription.service import ProgressFactory, load_transcript
from vidigest.modules.videos.service import VideoService


class Summarizer(Protocol):
    def summarize(self, transcript: Transcript, progress: ProgressReporter = ...) -> Summary: ...


def nothing_said_summary(transcript: Transcript) -> Summary:
    """A transcript without speech (music, silence) completes with an empty summary."""
    return Summary(
        abstract="",
        key_points=(),
        chapters=(),
        keywords=(),
        method="none",
        metadata={"reason": "no speech was detected", "duration": transcript.duration},
    )


class VideoSummaryService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.repository = GenericRepository(session, VideoSummaryRecord)

    def save_summary(self, video_id: str, summary: Summary) -> VideoSummaryRecord:
        return self._save_summary_with_outbox(video_id, summary)

    def _save_summary_with_outbox(self, video_id: str, summary: Summary) -> VideoSummaryRecord:
        """Summary + status COMPLETED + `summary.completed`, all in the caller's transaction.

        The status is set first, with one conditional UPDATE (SUMMARIZING -> COMPLETED) and
        without fetching the video: a stale delivery is refused before it writes anything.
        """
        VideoService(self.session).transition(video_id, VideoStatus.COMPLETED, progress=100.0)
        record = self.repository.add(
            VideoSummaryRecord(
                id=new_uuid(),
                video_id=video_id,
                abstract=summary.abstract,
                key_points=[k.model_dump() for k in summary.key_points],
                chapters=[c.model_dump() for c in summary.chapters],
                keywords=list(summary.keywords),
                method=summary.method,
                details=summary.metadata,
            )
        )
        OutboxService(self.session).add(
            Event(
                event_type=EventType.SUMMARY_COMPLETED,
                aggregate_id=video_id,
                payload=SummaryCompleted(video_id=video_id, summary_id=record.id).model_dump(),
            )
        )
        return record

    def load(self, video_id: str) -> Summary:
        record = self.repository.find_one({"video_id": video_id})
        if record is None:
            raise NotFoundError(f"no summary for video {video_id}")
        return Summary(
            abstract=record.abstract,
            key_points=tuple(KeyPoint.model_validate(k) for k in record.key_points),
            chapters=tuple(Chapter.model_validate(c) for c in record.chapters),
            keywords=tuple(record.keywords),
            method=record.method,
            metadata=record.details,
        )


class SummaryStep:
    consumer = Consumer.SUMMARY
    event_type = EventType.TRANSCRIPTION_COMPLETED
    stage = "summary"
    checks_before_work = True

    def __init__(
        self,
        summarizer: Summarizer,
        progress_for: ProgressFactory,
        session_factory: SessionFactory,
    ) -> None:
        self.summarizer = summarizer
        self.progress_for = progress_for
        self.session_factory = session_factory

    def video_id(self, event: Event) -> str:
        return parse_payload(TranscriptionCompleted, event).video_id

    def begin(self, session: Session, event: Event) -> None:
        """TRANSCRIBED -> SUMMARIZING, or SUMMARIZING again (a redelivery resumes)."""
        VideoService(session).transition(
            self.video_id(event), VideoStatus.SUMMARIZING, progress=0.0
        )

    def run(self, event: Event) -> Summary:
        video_id = self.video_id(event)
        transcript = load_transcript(self.session_factory, video_id)
        if not transcript.text.strip():
            return nothing_said_summary(transcript)
        return self.summarizer.summarize(
            transcript, progress=self.progress_for(video_id, "summarize")
        )

    def complete(self, session: Session, event: Event, result: Summary) -> None:
        VideoSummaryService(session).save_summary(self.video_id(event), result)
