"""Stored summaries: the storage side of the summary stage (its step: `step.py`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from vidigest.common.constants import EventType, VideoStatus
from vidigest.common.exceptions import NotFoundError
from vidigest.common.types import (
    Chapter,
    Event,
    KeyPoint,
    Summary,
    SummaryCompleted,
)
from vidigest.database.base import new_uuid
from vidigest.database.repository import GenericRepository
from vidigest.messaging.outbox import OutboxService
from vidigest.modules.speakers.attribution import name_summary
from vidigest.modules.speakers.naming import default_name
from vidigest.modules.summary.models import VideoSummaryRecord
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.service import VideoService


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
        """The stored summary, its speakers shown by the names they have now."""
        record = self.repository.find_one({"video_id": video_id})
        if record is None:
            raise NotFoundError(f"no summary for video {video_id}")
        summary = Summary(
            abstract=record.abstract,
            key_points=tuple(KeyPoint.model_validate(k) for k in record.key_points),
            chapters=tuple(Chapter.model_validate(c) for c in record.chapters),
            keywords=tuple(record.keywords),
            method=record.method,
            metadata=record.details,
        )
        return name_summary(summary, self._speaker_names(video_id))

    def _speaker_names(self, video_id: str) -> dict[str, str]:
        transcripts = TranscriptService(self.session)
        transcript = transcripts.find_record(video_id)
        if transcript is None:
            return {}
        return {
            row.label: row.name or default_name(row.label)
            for row in transcripts.speaker_rows(transcript.id)
        }
