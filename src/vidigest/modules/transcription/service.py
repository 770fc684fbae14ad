"""The transcription worker's domain part, and stored transcripts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy import insert
from sqlalchemy.orm import Session

from vidigest.common.constants import Consumer, EventType, VideoStatus
from vidigest.common.exceptions import NotFoundError
from vidigest.common.types import (
    Event,
    ProgressReporter,
    Segment,
    Transcript,
    TranscriptionCompleted,
    VideoRegistered,
    Word,
)
from vidigest.database.base import new_uuid
from vidigest.database.repository import GenericRepository
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.messaging.codec import parse_payload
from vidigest.messaging.outbox import OutboxService
from vidigest.modules.transcription.models import (
    TranscriptRecord,
    TranscriptSegment,
    TranscriptWord,
)
from vidigest.modules.videos.service import VideoService


class Transcriber(Protocol):
    def transcribe(
        self, path: str | Path, *, language: str | None = ..., progress: ProgressReporter = ...
    ) -> Transcript: ...


class TranscriptService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.records = GenericRepository(session, TranscriptRecord)

    def save(self, video_id: str, transcript: Transcript) -> TranscriptRecord:
        """Transcript, segments and words: three INSERT statements whatever the length."""
        record = self.records.add(
            TranscriptRecord(
                id=new_uuid(),
                video_id=video_id,
                language=transcript.language,
                language_probability=transcript.language_probability,
                duration=transcript.duration,
                model=transcript.model,
                text=transcript.text,
            )
        )
        self.session.flush()  # the transcript row must exist before the rows that reference it
        segments = [
            {
                "transcript_id": record.id,
                "position": s.index,
                "start_time": s.start,
                "end_time": s.end,
                "text": s.text,
            }
            for s in transcript.segments
        ]
        words = [
            {
                "transcript_id": record.id,
                "segment_position": s.index,
                "position": i,
                "start_time": w.start,
                "end_time": w.end,
                "text": w.text,
                "probability": w.probability,
            }
            for s in transcript.segments
            for i, w in enumerate(s.words)
        ]
        if segments:
            self.session.execute(insert(TranscriptSegment), segments)
        if words:
            self.session.execute(insert(TranscriptWord), words)
        return record

    def find_record(self, video_id: str) -> TranscriptRecord | None:
        return self.records.find_one({"video_id": video_id})

    def load(self, video_id: str) -> Transcript:
        record = self.find_record(video_id)
        if record is None:
            raise NotFoundError(f"no transcript for video {video_id}")
        words_by_segment: dict[int, list[Word]] = {}
        for w in GenericRepository(self.session, TranscriptWord).find_all(
            {"transcript_id": record.id}, order_by=["segment_position", "position"]
        ):
            words_by_segment.setdefault(w.segment_position, []).append(
                Word(start=w.start_time, end=w.end_time, text=w.text, probability=w.probability)
            )
        segments = tuple(
            Segment(
                index=s.position,
                start=s.start_time,
                end=s.end_time,
                text=s.text,
                words=tuple(words_by_segment.get(s.position, ())),
            )
            for s in GenericRepository(self.session, TranscriptSegment).find_all(
                {"transcript_id": record.id}, order_by="position"
            )
        )
        return Transcript(
            language=record.language,
            language_probability=record.language_probability,
            duration=record.duration,
            model=record.model,
            segments=segments,
        )


ProgressFactory = Callable[[str, str], ProgressReporter]  # (video id, stage) -> reporter


class TranscriptionStep:
    consumer = Consumer.TRANSCRIPTION
    event_type = EventType.VIDEO_REGISTERED
    stage = "transcription"
    checks_before_work = True

    def __init__(
        self,
        transcriber_for: Callable[[str | None], Transcriber],
        progress_for: ProgressFactory,
        session_factory: SessionFactory,
    ) -> None:
        self.transcriber_for = transcriber_for  # model spec (None: the default) -> transcriber
        self.progress_for = progress_for
        self.session_factory = session_factory

    def video_id(self, event: Event) -> str:
        return parse_payload(VideoRegistered, event).video_id

    def begin(self, session: Session, event: Event) -> None:
        VideoService(session).set_status(
            self.video_id(event), VideoStatus.TRANSCRIBING, progress=0.0
        )

    def run(self, event: Event) -> Transcript:
        payload = parse_payload(VideoRegistered, event)
        transcriber = self.transcriber_for(payload.model)
        return transcriber.transcribe(
            payload.source_path,
            language=payload.language,
            progress=self.progress_for(payload.video_id, "transcribe"),
        )

    def complete(self, session: Session, event: Event, result: Transcript) -> None:
        video_id = self.video_id(event)
        record = TranscriptService(session).save(video_id, result)
        VideoService(session).set_status(
            video_id, VideoStatus.TRANSCRIBED, duration=result.duration, progress=100.0
        )
        OutboxService(session).add(
            Event(
                event_type=EventType.TRANSCRIPTION_COMPLETED,
                aggregate_id=video_id,
                payload=TranscriptionCompleted(
                    video_id=video_id,
                    transcript_id=record.id,
                    segment_count=len(result.segments),
                    language=result.language,
                ).model_dump(),
            )
        )


def load_transcript(session_factory: SessionFactory, video_id: str) -> Transcript:
    with db_session_context(session_factory) as session:
        return TranscriptService(session).load(video_id)
