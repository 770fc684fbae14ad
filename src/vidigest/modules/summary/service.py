"""Stored summaries: the storage side of the summary stage (its step: `step.py`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vidigest.common.constants import EventType, VideoStatus
from vidigest.common.exceptions import NotFoundError, VideoStateError
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
from vidigest.modules.videos.models import Video
from vidigest.modules.videos.service import VideoService


def _columns(summary: Summary) -> dict[str, Any]:
    """A summary's values as the columns of its row store them."""
    return {
        "abstract": summary.abstract,
        "key_points": [k.model_dump() for k in summary.key_points],
        "chapters": [c.model_dump() for c in summary.chapters],
        "keywords": list(summary.keywords),
        "method": summary.method,
        "details": summary.metadata,
    }


class VideoSummaryService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.repository = GenericRepository(session, VideoSummaryRecord)

    def save_summary(
        self, video_id: str, summary: Summary, transcript_revision: int = 0
    ) -> VideoSummaryRecord:
        return self._save_summary_with_outbox(video_id, summary, transcript_revision)

    def _save_summary_with_outbox(
        self, video_id: str, summary: Summary, transcript_revision: int = 0
    ) -> VideoSummaryRecord:
        """Summary + status COMPLETED + `summary.completed`, all in the caller's transaction.

        The status is set first, with one conditional UPDATE (SUMMARIZING -> COMPLETED) and
        without fetching the video: a stale delivery is refused before it writes anything.
        """
        VideoService(self.session).transition(video_id, VideoStatus.COMPLETED, progress=100.0)
        record = self.repository.add(
            VideoSummaryRecord(
                id=new_uuid(),
                video_id=video_id,
                transcript_revision=transcript_revision,
                **_columns(summary),
            )
        )
        self._completed(video_id, record.id)
        return record

    def _completed(self, video_id: str, summary_id: str) -> None:
        OutboxService(self.session).add(
            Event(
                event_type=EventType.SUMMARY_COMPLETED,
                aggregate_id=video_id,
                payload=SummaryCompleted(video_id=video_id, summary_id=summary_id).model_dump(),
            )
        )

    # --- made again after a correction of the transcript -------------------------------------

    def _refuse_unless_completed(self, video_id: str) -> None:
        status = self.session.scalar(select(Video.status).where(Video.id == video_id))
        if status != VideoStatus.COMPLETED.value:
            raise VideoStateError(
                f"video {video_id} is {status or 'gone'}: its summary is not made again"
            )

    def stored_revision(self, video_id: str) -> int | None:
        """The transcript revision the stored summary was made from (None: no summary)."""
        return self.session.scalar(
            select(VideoSummaryRecord.transcript_revision).where(
                VideoSummaryRecord.video_id == video_id
            )
        )

    def check_resummary(self, video_id: str, revision: int) -> None:
        """VideoStateError unless the summary of a corrected transcript is still to be made
        for `revision`: the video is COMPLETED, no newer correction exists (its own event
        follows) and the stored summary is of an older revision."""
        self._refuse_unless_completed(video_id)
        transcript = TranscriptService(self.session).find_record(video_id)
        current = 0 if transcript is None else transcript.revision
        if current > revision:
            raise VideoStateError(
                f"revision {revision} of video {video_id} was corrected again ({current})"
            )
        stored = self.stored_revision(video_id)
        if stored is not None and stored >= revision:
            raise VideoStateError(f"the summary of revision {stored} of video {video_id} exists")

    def replace_summary(self, video_id: str, summary: Summary, revision: int) -> None:
        """The summary of the corrected transcript (revision `revision`) replaces the stored
        one, with one conditional UPDATE (only over an older revision), and a
        `summary.completed` event; the video stays COMPLETED. VideoStateError (nothing
        written) when the video is not COMPLETED any more or a summary as new is stored."""
        self._refuse_unless_completed(video_id)
        changed = self.session.execute(
            update(VideoSummaryRecord)
            .where(
                VideoSummaryRecord.video_id == video_id,
                VideoSummaryRecord.transcript_revision < revision,
            )
            .values(transcript_revision=revision, **_columns(summary))
            .execution_options(synchronize_session=False)
        )
        if int(getattr(changed, "rowcount", 0)) != 1:
            raise VideoStateError(
                f"a summary of revision {revision} or newer of video {video_id} is stored"
            )
        summary_id = self.session.scalar(
            select(VideoSummaryRecord.id).where(VideoSummaryRecord.video_id == video_id)
        )
        self._completed(video_id, str(summary_id))

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
