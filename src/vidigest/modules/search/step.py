"""The indexing stage's step: what its worker does with one `transcription.completed` message.

It runs beside the summary stage, on the same event, and again on `transcript.edited`
(the passages are rebuilt from the corrected transcript): the transcript's passages are embedded
(no transaction held), then stored with the processed mark in one transaction. It changes no
video status: a video is COMPLETED when its summary is, and its passages become searchable
when they are stored. A message for a video deleted or retried since is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from vidigest.common.constants import EventType
from vidigest.common.exceptions import VideoStateError
from vidigest.common.stages import INDEXING
from vidigest.common.types import Event, TranscriptEdited, TranscriptionCompleted
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.messaging.codec import parse_payload
from vidigest.modules.search.index import TextEncoder, VideoIndex, build_index, store_index
from vidigest.modules.transcription.service import TranscriptService


@dataclass(frozen=True)
class _Loaded:
    index: VideoIndex | None  # None: the video has no complete transcript (any more)


class IndexingStep:
    stage = INDEXING
    checks_before_work = True  # embedding a long transcript takes seconds: no duplicate work

    def __init__(self, encoder: TextEncoder, session_factory: SessionFactory) -> None:
        self.encoder = encoder
        self.session_factory = session_factory

    def video_id(self, event: Event) -> str:
        if event.event_type is EventType.TRANSCRIPT_EDITED:  # re-indexed after an edit
            return parse_payload(TranscriptEdited, event).video_id
        return parse_payload(TranscriptionCompleted, event).video_id

    def begin(self, session: Session, event: Event) -> None:
        """Nothing to change before the work (no status of its own)."""

    def run(self, event: Event) -> _Loaded:
        video_id = self.video_id(event)
        with db_session_context(self.session_factory) as session:
            service = TranscriptService(session)
            record = service.find_record(video_id)
            if record is None:
                return _Loaded(None)
            transcript_id, language = record.id, record.language
            segments = service.load(video_id).segments
        return _Loaded(build_index(transcript_id, language, segments, self.encoder))

    def complete(self, session: Session, event: Event, result: _Loaded) -> None:
        video_id = self.video_id(event)
        record = TranscriptService(session).find_record(video_id)
        if result.index is None or record is None or record.id != result.index.transcript_id:
            raise VideoStateError(f"video {video_id} has no such transcript any more")
        store_index(session, video_id, result.index)
