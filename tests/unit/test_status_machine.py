"""The status machine in the worker path: a stale message is a clean no-op, a database
integrity or value error is permanent (one attempt), and FAILED reasons carry no SQL, no
traceback and no server path (both backends)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support.factories import (
    CountingStep,
    count,
    event_message,
    message_handler,
    register_video,
    registered_event,
    video_row,
)
from vidigest.common.constants import (
    ALLOWED_TRANSITIONS,
    INITIAL_STATUSES,
    VideoStatus,
    allowed_from,
)
from vidigest.common.stages import TRANSCRIPTION, Stage
from vidigest.common.text import user_reason
from vidigest.common.types import Event, VideoRegistered
from vidigest.database.session import Database
from vidigest.media.probe import probe_media
from vidigest.messaging.codec import parse_payload
from vidigest.messaging.models import DeadLetter, OutboxEvent, ProcessedMessage
from vidigest.messaging.transport import Outcome
from vidigest.modules.videos.models import Video, VideoStatusLog
from vidigest.modules.videos.service import VideoService


def test_the_table_is_closed_and_every_status_is_reachable() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(VideoStatus)
    reachable = set(INITIAL_STATUSES)
    for targets in ALLOWED_TRANSITIONS.values():
        reachable |= targets
    assert reachable == set(VideoStatus)
    assert allowed_from(VideoStatus.TRANSCRIBED) == {VideoStatus.TRANSCRIBING}
    assert VideoStatus.COMPLETED not in allowed_from(VideoStatus.FAILED)


def test_a_message_for_a_video_past_the_stage_is_a_clean_no_op(db: Database) -> None:
    """A redelivered (or old) video.registered for a video already TRANSCRIBED: begin is
    refused, nothing runs, the status and its history stay, and the message is marked so it
    never comes back."""
    video = register_video(db)
    with db.session() as session:
        VideoService(session).transition(video.id, VideoStatus.TRANSCRIBING)
        VideoService(session).transition(video.id, VideoStatus.TRANSCRIBED)
    step = CountingStep()
    handler = message_handler(step, db.session_factory, max_attempts=4)
    message = event_message(registered_event(video))
    assert handler(message).outcome is Outcome.DUPLICATE
    assert handler(message).outcome is Outcome.DUPLICATE
    assert step.runs == 0
    assert video_row(db, video.id).status == "TRANSCRIBED"
    assert count(db, VideoStatusLog, video_id=video.id) == 3
    assert count(db, ProcessedMessage, outcome="skipped") == 1
    assert count(db, DeadLetter) == 0
    assert count(db, OutboxEvent, event_type="transcription.completed") == 0


def test_a_stale_complete_is_refused_and_stores_nothing(db: Database) -> None:
    """The video was failed while the work ran (e.g. another delivery gave up): the late
    complete changes nothing and commits no result."""
    video = register_video(db)

    @dataclass
    class FailingMeanwhile(CountingStep):
        def run(self, event: Event) -> str:
            with db.session() as session:
                VideoService(session).fail(video.id, "transcription", "gave up elsewhere")
            return super().run(event)

    result = message_handler(FailingMeanwhile(), db.session_factory)(
        event_message(registered_event(video))
    )
    assert result.outcome is Outcome.DUPLICATE
    row = video_row(db, video.id)
    assert (row.status, row.error) == ("FAILED", "gave up elsewhere")
    assert count(db, OutboxEvent, event_type="transcription.completed") == 0
    with db.session() as session:
        log = session.scalars(
            select(VideoStatusLog.to_status)
            .where(VideoStatusLog.video_id == video.id)
            .order_by(VideoStatusLog.id)
        ).all()
    assert log == ["REGISTERED", "TRANSCRIBING", "FAILED"]


@dataclass
class DuplicateRowStep:
    """`complete` stores a row the schema refuses (a second video with the same id): a real
    IntegrityError whose SQLAlchemy text carries the statement and its parameters."""

    secret: str
    runs: int = 0
    stage: Stage = TRANSCRIPTION
    checks_before_work: bool = True
    seen: list[Any] = field(default_factory=list)

    def video_id(self, event: Event) -> str:
        return parse_payload(VideoRegistered, event).video_id

    def begin(self, session: Session, event: Event) -> None:
        VideoService(session).transition(self.video_id(event), VideoStatus.TRANSCRIBING)

    def run(self, event: Event) -> str:
        self.runs += 1
        return "done"

    def complete(self, session: Session, event: Event, result: str) -> None:
        session.add(
            Video(
                id=self.video_id(event),
                filename=self.secret,
                source_type="path",
                source_uri=self.secret,
                media_path=self.secret,
            )
        )
        session.flush()


def test_an_integrity_error_fails_after_one_attempt_without_sql(db: Database) -> None:
    video = register_video(db)
    step = DuplicateRowStep(secret="confidential transcript words")
    handler = message_handler(step, db.session_factory, max_attempts=4)
    result = handler(event_message(registered_event(video)), 1)
    assert result.outcome is Outcome.DEAD_LETTERED
    assert step.runs == 1
    row = video_row(db, video.id)
    assert row.status == "FAILED"
    assert row.error == (
        "transcription failed: the results could not be stored (database error: "
        f"{'IntegrityError' if db.is_sqlite else 'UniqueViolation'})"
    )
    with db.session() as session:
        reasons = session.scalars(select(VideoStatusLog.reason)).all()
        letters = session.scalars(select(DeadLetter.error)).all()
    for text in [*reasons, *letters]:
        if text:
            for leak in ("INSERT", "SQL", "confidential", "parameters", "sqlalche.me"):
                assert leak not in text, text


def test_a_value_error_is_permanent(db: Database) -> None:
    video = register_video(db)
    step = CountingStep(failures=[ValueError("bad value"), ValueError("bad value")])
    result = message_handler(step, db.session_factory, max_attempts=4)(
        event_message(registered_event(video)), 1
    )
    assert result.outcome is Outcome.DEAD_LETTERED and step.runs == 1
    assert video_row(db, video.id).error == "transcription failed: ValueError: bad value"


@dataclass
class ProbingStep(CountingStep):
    def run(self, event: Event) -> str:
        probe_media(parse_payload(VideoRegistered, event).source_path)
        return "done"


def test_a_corrupt_file_fails_with_its_name_not_its_server_path(
    db: Database, tmp_path: Path
) -> None:
    stored = tmp_path / "data" / "media" / "0f3a9c" / "clip.mp4"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"this is not a video at all" * 100)
    video = register_video(db, stored)
    result = message_handler(ProbingStep(), db.session_factory)(
        event_message(registered_event(video))
    )
    assert result.outcome is Outcome.DEAD_LETTERED
    error = video_row(db, video.id).error or ""
    assert error.startswith("transcription failed: cannot decode clip.mp4: "), error
    assert str(tmp_path) not in error and "/media/" not in error


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            "cannot decode /home/u/.local/share/vidigest/media/ab/clip.mp4: Invalid data",
            "cannot decode clip.mp4: Invalid data",
        ),
        (
            "fetching http://example.com/a/b.mp4 failed",
            "fetching http://example.com/a/b.mp4 failed",
        ),
        (
            "(psycopg.errors.UniqueViolation) duplicate key\n[SQL: INSERT INTO t VALUES (%s)]\n"
            "[parameters: ('secret',)]\n(Background on this error at: https://sqlalche.me/e/20/gkpj)",
            "(psycopg.errors.UniqueViolation) duplicate key",
        ),
        ('boom\nTraceback (most recent call last):\n  File "/srv/x.py"', "boom"),
    ],
)
def test_user_reason(raw: str, shown: str) -> None:
    assert user_reason(raw) == shown
