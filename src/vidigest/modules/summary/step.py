"""The summary stage's step: what its worker does with one `transcription.completed` message,
or with one `transcript.edited` message (a user corrected the transcript of a COMPLETED video):
the storage it writes through is `service.py`.

A summary made again after a correction leaves the video COMPLETED (no status change, no
progress shown: the summary shown meanwhile is the previous one, marked as made from an older
revision) and replaces the stored summary. It summarises the transcript as it is when the work
starts, so several quick corrections do not pile up summaries: an event whose revision is
behind the transcript's is skipped (the event of the newer revision follows), and so is one
whose revision a stored summary already covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from vidigest.common.constants import EventType, VideoStatus
from vidigest.common.stages import SUMMARY
from vidigest.common.types import (
    Event,
    NullProgress,
    ProgressFactory,
    ProgressReporter,
    Summary,
    Transcript,
    TranscriptEdited,
    TranscriptionCompleted,
)
from vidigest.database.session import SessionFactory
from vidigest.messaging.codec import parse_payload
from vidigest.modules.speakers.attribution import attribute_speakers
from vidigest.modules.summary.service import VideoSummaryService
from vidigest.modules.transcription.service import load_transcript_revision
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


@dataclass(frozen=True)
class Summarised:
    summary: Summary
    revision: int  # the transcript revision it was made from


def is_edit(event: Event) -> bool:
    return event.event_type is EventType.TRANSCRIPT_EDITED


class SummaryStep:
    stage = SUMMARY
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
        if is_edit(event):
            return parse_payload(TranscriptEdited, event).video_id
        return parse_payload(TranscriptionCompleted, event).video_id

    def begin(self, session: Session, event: Event) -> None:
        """TRANSCRIBED -> SUMMARIZING, or SUMMARIZING again (a redelivery resumes). After a
        correction: no status change; VideoStateError (the message is skipped) when a newer
        correction was made or a summary of this revision is stored."""
        if is_edit(event):
            edited = parse_payload(TranscriptEdited, event)
            VideoSummaryService(session).check_resummary(edited.video_id, edited.revision)
            return
        VideoService(session).transition(
            self.video_id(event), VideoStatus.SUMMARIZING, progress=0.0
        )

    def run(self, event: Event) -> Summarised:
        video_id = self.video_id(event)
        transcript, revision = load_transcript_revision(self.session_factory, video_id)
        if not transcript.text.strip():
            return Summarised(nothing_said_summary(transcript), revision)
        # a summary made again shows no progress: the video stays COMPLETED at 100 %
        progress = NullProgress() if is_edit(event) else self.progress_for(video_id, "summarize")
        summary = self.summarizer.summarize(transcript, progress=progress)
        # labels; names when read
        return Summarised(attribute_speakers(summary, transcript.segments), revision)

    def complete(self, session: Session, event: Event, result: Summarised) -> None:
        service = VideoSummaryService(session)
        if is_edit(event):
            service.replace_summary(self.video_id(event), result.summary, result.revision)
        else:
            service.save_summary(self.video_id(event), result.summary, result.revision)
