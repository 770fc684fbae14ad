"""Inbox, outbox, status log and the summary transaction, on both backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select

from tests.support.factories import register_video
from vidigest.common.constants import EventType, VideoStatus
from vidigest.common.types import Chapter, KeyPoint, Summary
from vidigest.database.session import Database
from vidigest.messaging.inbox import ProcessedMessageService
from vidigest.messaging.models import OutboxEvent, ProcessedMessage
from vidigest.modules.summary.models import VideoSummaryRecord
from vidigest.modules.summary.service import VideoSummaryService
from vidigest.modules.videos.models import Video
from vidigest.modules.videos.service import VideoService, VideoStateError, VideoStatusLogService

SUMMARY = Summary(
    abstract="Bees make honey.",
    key_points=(KeyPoint(text="Bees make honey.", start=0.0, end=2.0),),
    chapters=(Chapter(start=0.0, end=2.0, title="Bees", summary="Bees make honey."),),
    keywords=("bees",),
    method="test",
)


def _count(db: Database, model: type[Any]) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_mark_as_processed_twice_returns_the_existing_record(db: Database) -> None:
    for skip_check in (False, True):
        with db.session() as session:
            service = ProcessedMessageService(session)
            first = service.mark_as_processed("worker", f"m-{skip_check}", skip_check=skip_check)
        with db.session() as session:
            service = ProcessedMessageService(session)
            second = service.mark_as_processed("worker", f"m-{skip_check}", skip_check=skip_check)
            assert service.is_processed("worker", f"m-{skip_check}")
            assert not service.is_processed("other-worker", f"m-{skip_check}")
        assert first.created and not second.created
        assert second.record.id == first.record.id
    assert _count(db, ProcessedMessage) == 2


def test_registration_writes_video_status_and_outbox_together(db: Database) -> None:
    video = register_video(db)
    with db.session() as session:
        rows = session.scalars(select(OutboxEvent)).all()
        history = VideoStatusLogService(session).history(video.id)
    assert [(r.event_type, r.aggregate_id, r.published_at) for r in rows] == [
        (EventType.VIDEO_REGISTERED.value, video.id, None)
    ]
    assert rows[0].payload["payload"]["video_id"] == video.id
    assert [(h.from_status, h.to_status) for h in history] == [(None, "REGISTERED")]


def test_status_history_is_ordered_and_chained(db: Database) -> None:
    video = register_video(db)
    steps = [VideoStatus.TRANSCRIBING, VideoStatus.TRANSCRIBED]
    for status in steps:
        with db.session() as session:
            VideoService(session).transition(video.id, status)
    with db.session() as session:  # two changes in one transaction: same order, same chain
        VideoService(session).transition(video.id, VideoStatus.SUMMARIZING)
        VideoService(session).transition(video.id, VideoStatus.FAILED, reason="because")
    with db.session() as session:
        history = VideoStatusLogService(session).history(video.id)
        current = session.get(Video, video.id)
    assert [(h.from_status, h.to_status) for h in history] == [
        (None, "REGISTERED"),
        ("REGISTERED", "TRANSCRIBING"),
        ("TRANSCRIBING", "TRANSCRIBED"),
        ("TRANSCRIBED", "SUMMARIZING"),
        ("SUMMARIZING", "FAILED"),
    ]
    assert history[-1].reason == "because"
    assert current is not None and current.status == "FAILED" and current.error == "because"


def _summarizing(db: Database) -> Video:
    video = register_video(db)
    for status in (VideoStatus.TRANSCRIBING, VideoStatus.TRANSCRIBED, VideoStatus.SUMMARIZING):
        with db.session() as session:
            VideoService(session).transition(video.id, status)
    return video


def test_impossible_and_stale_transitions_are_refused(db: Database) -> None:
    """Every status change is checked against ALLOWED_TRANSITIONS by its conditional UPDATE:
    a stale begin (TRANSCRIBING again after TRANSCRIBED) or complete (TRANSCRIBED when the
    video is not TRANSCRIBING) changes nothing and raises."""
    video = register_video(db)
    with db.session() as session:
        service = VideoService(session)
        for impossible in (VideoStatus.TRANSCRIBED, VideoStatus.SUMMARIZING, VideoStatus.COMPLETED):
            with pytest.raises(VideoStateError, match="REGISTERED"):
                service.transition(video.id, impossible)
        service.transition(video.id, VideoStatus.TRANSCRIBING)
        service.transition(video.id, VideoStatus.TRANSCRIBING)  # a resume: no second log row
        service.transition(video.id, VideoStatus.TRANSCRIBED)
        with pytest.raises(VideoStateError):  # a stale begin: the stage is over
            service.transition(video.id, VideoStatus.TRANSCRIBING)
        with pytest.raises(VideoStateError):  # a stale complete
            service.transition(video.id, VideoStatus.TRANSCRIBED)
        with pytest.raises(VideoStateError):  # retry is for FAILED videos only
            service.retry(video.id)
    done = _summarizing(db)
    with db.session() as session:
        VideoSummaryService(session).save_summary(done.id, SUMMARY)
    with db.session() as session, pytest.raises(VideoStateError):
        VideoService(session).fail(done.id, "summary", "late failure")  # COMPLETED stays
    with db.session() as session:
        history = VideoStatusLogService(session).history(video.id)
        assert [h.to_status for h in history] == ["REGISTERED", "TRANSCRIBING", "TRANSCRIBED"]
        assert session.get(Video, done.id).status == "COMPLETED"  # type: ignore[union-attr]


def test_summary_status_and_event_commit_together(db: Database) -> None:
    video = _summarizing(db)
    with db.session() as session:
        VideoSummaryService(session).save_summary(video.id, SUMMARY)
    with db.session() as session:
        assert VideoSummaryService(session).load(video.id) == SUMMARY
        assert session.get(Video, video.id).status == "COMPLETED"  # type: ignore[union-attr]
        types = session.scalars(select(OutboxEvent.event_type).order_by(OutboxEvent.id)).all()
    assert types == ["video.registered", "summary.completed"]


@pytest.fixture
def fail_outbox_inserts(db: Database) -> Iterator[Callable[[], None]]:
    """Arms a real fault in the database layer: every INSERT into outbox_events fails."""

    def fail(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX_EVENTS"):
            raise RuntimeError("disk full while writing the outbox")

    yield lambda: event.listen(db.engine, "before_cursor_execute", fail)
    if event.contains(db.engine, "before_cursor_execute", fail):
        event.remove(db.engine, "before_cursor_execute", fail)


def test_failure_after_summary_insert_leaves_nothing(
    db: Database, fail_outbox_inserts: Callable[[], None]
) -> None:
    video = _summarizing(db)
    outbox_before = _count(db, OutboxEvent)
    fail_outbox_inserts()
    with pytest.raises(RuntimeError, match="disk full"), db.session() as session:
        VideoSummaryService(session).save_summary(video.id, SUMMARY)
        session.flush()
    assert _count(db, VideoSummaryRecord) == 0
    assert _count(db, OutboxEvent) == outbox_before
    with db.session() as session:
        assert session.get(Video, video.id).status == "SUMMARIZING"  # type: ignore[union-attr]
        assert len(VideoStatusLogService(session).history(video.id)) == 4


def test_status_update_does_not_read_the_video_first(db: Database) -> None:
    video = _summarizing(db)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.split()[0].upper() + " " + statement.split()[2].lower())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.session() as session:
            VideoSummaryService(session).save_summary(video.id, SUMMARY)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert not any(s.startswith("SELECT") and "videos" in s for s in statements), statements
