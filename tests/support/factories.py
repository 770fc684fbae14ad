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


@dataclass
class SequenceStep:
    """A cheap step that may be batched (`batch_size`): each message carries `seq` in its
    payload and its effect is one outbox event with that `seq`, so the outbox id order of a
    video's events is the order in which their messages were committed. `poison` seqs fail
    for good (no audio: dead-lettered at once); `flaky` seqs fail that many times first with
    an error that may pass (a retry is due)."""

    batch_size: int = 8
    poison: set[int] = field(default_factory=set)
    flaky: dict[int, int] = field(default_factory=dict)
    runs: int = 0
    stage: Stage = TRANSCRIPTION
    checks_before_work: bool = False

    def video_id(self, event: Event) -> str:
        return event.aggregate_id

    def begin(self, session: Session, event: Event) -> None:
        raise AssertionError("a step without checks_before_work has no begin")

    def run(self, event: Event) -> int:
        self.runs += 1
        seq = int(event.payload["seq"])
        if seq in self.poison:
            from vidigest.common.exceptions import NoAudioStreamError

            raise NoAudioStreamError(f"clip-{seq}.mp4")
        if self.flaky.get(seq, 0) > 0:
            self.flaky[seq] -= 1
            raise ConnectionError(f"seq {seq} not yet")
        return seq

    def complete(self, session: Session, event: Event, result: int) -> None:
        from vidigest.messaging.outbox import OutboxService

        OutboxService(session).add(
            Event(
                event_type=EventType.TRANSCRIPTION_COMPLETED,
                aggregate_id=event.aggregate_id,
                payload={"seq": result},
            )
        )


def sequence_messages(video_id: str, seqs: range | list[int], topic: str) -> list[Message]:
    """`video.registered` messages of one video (one key: one partition), `seq` in order."""
    return [
        event_message(
            Event(event_type=EventType.VIDEO_REGISTERED, aggregate_id=video_id, payload={"seq": s}),
            topic,
        )
        for s in seqs
    ]


def committed_seqs(db: Database) -> dict[str, list[int]]:
    """Video id -> the `seq` of its SequenceStep effects, in the order they were committed."""
    from vidigest.messaging.models import OutboxEvent

    with db.session() as session:
        rows = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.event_type == EventType.TRANSCRIPTION_COMPLETED.value)
            .order_by(OutboxEvent.id)
        ).all()
    seqs: dict[str, list[int]] = {}
    for row in rows:
        payload = row.payload.get("payload")
        assert isinstance(payload, dict)
        seqs.setdefault(row.aggregate_id, []).append(int(payload["seq"]))
    return seqs
