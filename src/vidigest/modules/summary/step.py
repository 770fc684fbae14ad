"""The summary stage's step: what its worker does with one `transcription.completed` message
(the storage it writes through: `service.py`)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from vidigest.common.constants import VideoStatus
from vidigest.common.stages import SUMMARY
from vidigest.common.types import (
    Event,
    ProgressFactory,
    ProgressReporter,
    Summary,
    Transcript,
    TranscriptionCompleted,
)
from vidigest.database.session import SessionFactory
from vidigest.messaging.codec import parse_payload
from vidigest.modules.speakers.attribution import attribute_speakers
from vidigest.modules.summary.service import VideoSummaryService
from vidigest.modules.transcription.service import load_transcript
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
        summary = self.summarizer.summarize(
            transcript, progress=self.progress_for(video_id, "summarize")
        )
        return attribute_speakers(summary, transcript.segments)  # labels; names when read

    def complete(self, session: Session, event: Event, result: Summary) -> None:
        VideoSummaryService(session).save_summary(self.video_id(event), result)
