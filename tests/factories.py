"""Rows and messages for tests, made through the real services."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from vidigest.common.constants import EventType
from vidigest.common.types import Event, TranscriptionCompleted, VideoRegistered
from vidigest.database.session import Database, SessionFactory
from vidigest.messaging.codec import encode_event
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
