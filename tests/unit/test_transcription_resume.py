"""Transcripts of long media stored window by window, and resumed after a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support.factories import event_message, message_handler, register_video, registered_event
from tests.support.paths import SAMPLES
from vidigest.common.types import NullProgress, ProgressReporter, Segment, Word
from vidigest.database.session import Database
from vidigest.messaging.transport import Outcome
from vidigest.modules.transcription.asr import WhisperTranscriber, Window
from vidigest.modules.transcription.models import TranscriptRecord, TranscriptSegment
from vidigest.modules.transcription.service import (
    TranscriptConflictError,
    TranscriptionResult,
    TranscriptService,
)
from vidigest.modules.transcription.step import TranscriptionStep
from vidigest.modules.videos.models import Video

TALK = SAMPLES / "three_topics_talk.mp4"


def segment(index: int, start: float, text: str) -> Segment:
    word = Word(start=start, end=start + 0.5, text=text, probability=0.9)
    return Segment(index=index, start=start, end=start + 0.5, text=text, words=(word,))


def window(start: float, end: float, *segments: Segment, last: bool = False) -> Window:
    return Window(
        start=start,
        end=end,
        segments=segments,
        language="en",
        language_probability=0.9 if start == 0 else None,
        last=last,
        duration=30.0,
        model="whisper-tiny.en",
    )


def count(db: Database, model: type[object]) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_windows_are_appended_then_completed_once(db: Database) -> None:
    video = register_video(db)
    first = window(0.0, 9.5, segment(0, 1.0, "one"), segment(1, 3.0, "two"))
    second = window(9.5, 19.0)  # silence: no segments, the position still moves on
    third = window(19.0, 28.5, segment(2, 20.0, "three"))
    with db.session() as session:
        transcript_id = TranscriptService(session).start_partial(video.id, first)
    with db.session() as session:
        TranscriptService(session).append(transcript_id, second, stored=2, resume_at=9.5)
    with db.session() as session:
        TranscriptService(session).append(transcript_id, third, stored=2, resume_at=19.0)
    with db.session() as session:
        partial = TranscriptService(session).find_partial(video.id)
    assert partial is not None
    assert (partial.id, partial.resume_at, partial.segment_count) == (transcript_id, 28.5, 3)
    assert (partial.language, partial.last_end) == ("en", 20.5)

    # a second delivery working from a stale position is refused, and writes nothing
    for stored, resume_at in ((2, 19.0), (3, 19.0)):
        late = window(resume_at, 28.5, segment(stored, 21.0, "late"))
        with pytest.raises(TranscriptConflictError), db.session() as session:
            TranscriptService(session).append(
                transcript_id, late, stored=stored, resume_at=resume_at
            )
    assert count(db, TranscriptSegment) == 3

    last = (segment(3, 29.0, "four"),)
    result = TranscriptionResult(transcript_id, 3, 28.5, last, "en", None, 30.0, "whisper-tiny.en")
    with db.session() as session:
        assert TranscriptService(session).finish(video.id, result)[0] == transcript_id
    with db.session() as session:
        service = TranscriptService(session)
        assert service.find_partial(video.id) is None
        record = service.find_record(video.id)
        assert record is not None
        assert (record.state, record.segment_count, record.duration) == ("complete", 4, 30.0)
        assert record.text == "one two three four"
        assert record.language_probability == 0.9  # kept from the window that detected it
        loaded = service.load(video.id)
    assert [s.text for s in loaded.segments] == ["one", "two", "three", "four"]
    assert [len(s.words) for s in loaded.segments] == [1, 1, 1, 1]
    with pytest.raises(TranscriptConflictError), db.session() as session:  # only once
        TranscriptService(session).finish(video.id, result)


class Crash(BaseException):
    """The process dies: nothing after it runs, nothing is recorded (as with SIGKILL)."""


class CrashAfter:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def start(self, stage: str, total: float) -> None:
        pass

    def update(self, stage: str, completed: float) -> None:
        if stage == "transcribe" and completed > self.seconds:
            raise Crash

    def finish(self, stage: str) -> None:
        pass


@pytest.mark.slow
def test_handler_resumes_a_crashed_transcription(sqlite_db: Database, tmp_path: Path) -> None:
    transcriber = WhisperTranscriber("fast", window_seconds=20.0)
    reporters: list[ProgressReporter] = [CrashAfter(45.0)]

    def progress_for(video_id: str, stage: str) -> ProgressReporter:
        return reporters.pop(0) if reporters else NullProgress()

    step = TranscriptionStep(lambda _spec: transcriber, progress_for, sqlite_db.session_factory)
    handler = message_handler(step, sqlite_db.session_factory, max_attempts=3)
    video = register_video(sqlite_db, TALK)
    message = event_message(registered_event(video))

    with pytest.raises(Crash):
        handler(message)
    with sqlite_db.session() as session:
        partial = TranscriptService(session).find_partial(video.id)
        assert session.get(Video, video.id).status == "TRANSCRIBING"  # type: ignore[union-attr]
    assert partial is not None and 20.0 < partial.resume_at <= 45.0 and partial.segment_count

    assert handler(message).outcome is Outcome.PROCESSED
    assert handler(message).outcome is Outcome.DUPLICATE
    windows = list(transcriber.iter_windows(TALK))  # uninterrupted, same windows
    expected = [s for w in windows for s in w.segments]
    with sqlite_db.session() as session:
        stored = TranscriptService(session).load(video.id)
    assert stored.segments == tuple(expected)
    assert count(sqlite_db, TranscriptRecord) == 1


def test_a_partial_transcript_is_not_readable_nor_searchable(db: Database) -> None:
    """Windows stored for a resume are internal until the transcript completes: the export,
    the summary step, the API and search see only complete transcripts."""
    from vidigest.common.exceptions import NotFoundError
    from vidigest.modules.search.service import search_segments

    video = register_video(db)
    with db.session() as session:
        TranscriptService(session).start_partial(
            video.id, window(0.0, 9.5, segment(0, 1.0, "volcano"))
        )
    with db.session() as session:
        service = TranscriptService(session)
        assert service.find_record(video.id) is None
        with pytest.raises(NotFoundError):
            service.load(video.id)
        assert search_segments(session, "volcano") == []
