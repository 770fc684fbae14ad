"""Rows and messages for tests, made through the real services."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vidigest.common.constants import EventType, VideoStatus
from vidigest.common.stages import TRANSCRIPTION, Stage
from vidigest.common.types import Event, TranscriptionCompleted, VideoRegistered
from vidigest.database.session import Database, SessionFactory
from vidigest.messaging.codec import encode_event, parse_payload
from vidigest.messaging.delivery import Backoff, DeliveryPolicy
from vidigest.messaging.handler import MessageHandler, Step
from vidigest.messaging.transport import Message
from vidigest.modules.videos.models import Video
from vidigest.modules.videos.service import VideoService, fail_video

ResultT = TypeVar("ResultT")


def message_handler(
    step: Step[ResultT], session_factory: SessionFactory, max_attempts: int = 1
) -> MessageHandler[ResultT]:
    """A handler wired as `app.py` wires it: the videos' failure recorder, `max_attempts` tries."""
    policy = DeliveryPolicy(max_attempts, Backoff(0.0, 0.0))
    return MessageHandler(step, session_factory, fail_video, policy)


def register_video(db: Database, path: Path | str = "/media/talk.mp4") -> Video:
    with db.session() as session:
        return VideoService(session).register(
            media_path=Path(path), source_type="path", source_uri=str(path)
        )


def event_message(event: Event, topic: str | None = None) -> Message:
    return encode_event(
        str(event.event_id),
        event.event_type.value,
        event.aggregate_id,
        event.model_dump(mode="json"),
        topic or event.event_type.value,
    )


def registered_event(video: Video) -> Event:
    return Event(
        event_type=EventType.VIDEO_REGISTERED,
        aggregate_id=video.id,
        payload=VideoRegistered(video_id=video.id, source_path=video.media_path).model_dump(),
    )


def transcription_completed_event(video_id: str, transcript_id: str = "t-1") -> Event:
    return Event(
        event_type=EventType.TRANSCRIPTION_COMPLETED,
        aggregate_id=video_id,
        payload=TranscriptionCompleted(
            video_id=video_id, transcript_id=transcript_id, segment_count=1, language="en"
        ).model_dump(),
    )


# --- a minimal real step and row helpers, for handler tests ---------------------------------------


@dataclass
class CountingStep:
    """A minimal real step: marks the video TRANSCRIBED and emits an event.
    `failures` makes `run` raise those errors first, one per call."""

    failures: list[Exception] = field(default_factory=list)
    gate: threading.Event | None = None
    runs: int = 0
    stage: Stage = TRANSCRIPTION
    checks_before_work: bool = True

    def video_id(self, event: Event) -> str:
        return parse_payload(VideoRegistered, event).video_id

    def begin(self, session: Session, event: Event) -> None:
        VideoService(session).transition(self.video_id(event), VideoStatus.TRANSCRIBING)

    def run(self, event: Event) -> str:
        self.runs += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.failures:
            raise self.failures.pop(0)
        return "done"

    def complete(self, session: Session, event: Event, result: str) -> None:
        if not self.checks_before_work:  # no separate begin: both changes in this transaction
            self.begin(session, event)
        VideoService(session).transition(self.video_id(event), VideoStatus.TRANSCRIBED)
        from vidigest.messaging.outbox import OutboxService

        OutboxService(session).add(
            Event(
                event_type=EventType.TRANSCRIPTION_COMPLETED,
                aggregate_id=event.aggregate_id,
                payload={"video_id": self.video_id(event), "result": result},
            )
        )


def count(db: Database, model: type[Any], **where: Any) -> int:
    with db.session() as session:
        stmt = select(func.count()).select_from(model).filter_by(**where)
        return int(session.scalar(stmt) or 0)


def video_row(db: Database, video_id: str) -> Video:
    with db.session() as session:
        video = session.get(Video, video_id)
        assert video is not None
        return video
