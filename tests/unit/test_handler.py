"""The shared MessageHandler: idempotency, retries, failures, dead letters (both backends)."""

from __future__ import annotations

import json
import threading

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
from vidigest.common.exceptions import NoAudioStreamError
from vidigest.common.stages import TRANSCRIPTION
from vidigest.common.types import Event
from vidigest.database.session import Database
from vidigest.messaging.dead_letters import DeadLetterTable
from vidigest.messaging.delivery import Backoff, DeliveryPolicy
from vidigest.messaging.embedded import EmbeddedBroker
from vidigest.messaging.handler import MessageHandler
from vidigest.messaging.models import DeadLetter, OutboxEvent, ProcessedMessage
from vidigest.messaging.transport import Message, Outcome
from vidigest.modules.videos.models import Video, VideoStatusLog
from vidigest.modules.videos.progress import StoredProgress
from vidigest.modules.videos.service import CANCELLED_REASON, VideoService, fail_video


def test_processes_once_and_ignores_redelivery(db: Database) -> None:
    video = register_video(db)
    step = CountingStep()
    handler = message_handler(step, db.session_factory)
    message = event_message(registered_event(video))
    assert handler(message).outcome is Outcome.PROCESSED
    assert handler(message).outcome is Outcome.DUPLICATE
    assert step.runs == 1
    assert video_row(db, video.id).status == "TRANSCRIBED"
    assert count(db, OutboxEvent, event_type="transcription.completed") == 1
    assert (
        count(db, VideoStatusLog, video_id=video.id) == 3
    )  # REGISTERED, TRANSCRIBING, TRANSCRIBED
    assert count(db, ProcessedMessage) == 1


def test_transient_errors_are_retried_then_succeed(db: Database) -> None:
    video = register_video(db)
    step = CountingStep(failures=[ConnectionError("model server hiccup")])
    handler = message_handler(step, db.session_factory, max_attempts=3)
    message = event_message(registered_event(video))
    first = handler(message, 1)
    assert first.outcome is Outcome.RETRY and "hiccup" in (first.error or "")
    assert count(db, ProcessedMessage) == 0  # nothing committed for a retry
    assert handler(message, 2).outcome is Outcome.PROCESSED
    assert video_row(db, video.id).status == "TRANSCRIBED"


def test_transient_errors_fail_the_video_after_the_last_attempt(db: Database) -> None:
    video = register_video(db)
    step = CountingStep(failures=[ConnectionError("down")] * 2)
    handler = message_handler(step, db.session_factory, max_attempts=2)
    message = event_message(registered_event(video))
    assert handler(message, 1).outcome is Outcome.RETRY
    result = handler(message, 2)
    assert result.outcome is Outcome.DEAD_LETTERED
    row = video_row(db, video.id)
    assert row.status == "FAILED"
    assert row.error == "transcription failed after 2 attempt(s): ConnectionError: down"
    assert count(db, DeadLetter, consumer="transcription-worker", attempts=2) == 1
    assert count(db, OutboxEvent, event_type="video.failed") == 1
    assert handler(message, 1).outcome is Outcome.DUPLICATE  # redelivery changes nothing


def test_permanent_errors_fail_at_once_with_the_reason(db: Database) -> None:
    video = register_video(db, "/media/silent.mp4")
    step = CountingStep(failures=[NoAudioStreamError("/media/silent.mp4")])
    handler = message_handler(step, db.session_factory, max_attempts=5)
    result = handler(event_message(registered_event(video)), 1)
    assert result.outcome is Outcome.DEAD_LETTERED
    # the reason names the file, never the server path it is stored at
    assert video_row(db, video.id).error == "transcription failed: no audio stream in silent.mp4"
    with db.session() as session:
        reasons = session.scalars(
            select(VideoStatusLog.reason).where(VideoStatusLog.to_status == "FAILED")
        ).all()
    assert reasons == ["transcription failed: no audio stream in silent.mp4"]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (b"\xff\xfe not json", "message is not valid JSON"),
        (b"[1, 2]", "message must be a JSON object, got list"),
        (b'{"event_type": "video.registered"}', "invalid event envelope: aggregate_id: Field"),
        (b'{"event_type": "video.exploded", "aggregate_id": "x"}', "invalid event envelope"),
        (
            json.dumps({"event_type": "summary.completed", "aggregate_id": "x"}).encode(),
            "transcription-worker does not handle summary.completed events",
        ),
        (
            json.dumps(
                {"event_type": "video.registered", "aggregate_id": "x", "payload": {"video_id": 7}}
            ).encode(),
            "invalid video.registered payload",
        ),
    ],
)
def test_malformed_messages_are_dead_lettered_not_raised(
    db: Database, value: bytes, error: str
) -> None:
    handler = message_handler(CountingStep(), db.session_factory)
    message = Message(topic="video.registered", key="k", value=value, origin="video.registered/0/7")
    result = handler(message)
    assert result.outcome is Outcome.DEAD_LETTERED
    assert error in (result.error or "")
    with db.session() as session:
        letter = session.scalars(select(DeadLetter)).one()
    assert letter.payload == value and letter.origin == "video.registered/0/7"
    assert error in letter.error


def test_nul_bytes_and_huge_metadata_are_stored_not_retried(db: Database) -> None:
    """Regression: PostgreSQL text cannot hold NUL; recording such a message used to fail,
    which turned a bad message into an endless retry."""
    handler = message_handler(CountingStep(), db.session_factory)
    body = {
        "event_type": "video.registered",
        "aggregate_id": "v\u0000",
        "payload": {"video_id": "v\u0000", "source_path": "/x\u0000.mp4"},
    }
    message = Message(
        topic="video.registered",
        key="key\x00" + "k" * 1000,
        value=json.dumps(body).encode(),
        headers={"event_id": "\x00" * 500, "x\x00": "y\x00"},
        origin="video.registered/0/\x00",
    )
    result = handler(message)
    assert result.outcome is Outcome.DEAD_LETTERED
    assert "invalid event envelope: aggregate_id: String should match pattern" in (
        result.error or ""
    )
    with db.session() as session:
        letter = session.scalars(select(DeadLetter)).one()
    assert letter.payload == message.value
    assert letter.message_key is not None and letter.message_key.startswith("key\ufffd")
    assert len(letter.message_key) == 255 and letter.message_key.endswith("[truncated]")
    assert letter.headers == {"event_id": "\ufffd" * 500, "x\ufffd": "y\ufffd"}


def test_failure_of_a_deleted_video_still_dead_letters(db: Database) -> None:
    video = register_video(db)
    with db.session() as session:
        session.delete(session.get(Video, video.id))
    step = CountingStep()
    result = message_handler(step, db.session_factory)(event_message(registered_event(video)))
    assert result.outcome is Outcome.DEAD_LETTERED
    assert f"video {video.id} not found" in (result.error or "")
    assert count(db, DeadLetter) == 1


def test_a_cheap_step_runs_in_one_transaction_and_still_dedupes(db: Database) -> None:
    video = register_video(db)
    step = CountingStep(checks_before_work=False)
    handler = message_handler(step, db.session_factory)
    message = event_message(registered_event(video))
    assert handler(message).outcome is Outcome.PROCESSED
    assert handler(message).outcome is Outcome.DUPLICATE  # detected at commit, after the work
    assert step.runs == 2
    assert count(db, OutboxEvent, event_type="transcription.completed") == 1
    assert count(db, VideoStatusLog, video_id=video.id, to_status="TRANSCRIBING") == 1


@pytest.mark.integration
def test_concurrent_deliveries_on_postgres_process_once(postgres_db: Database) -> None:
    """Two consumers get the same message at once (a rebalance, a re-publish): both run the
    long work, only one commits its effects, the other reports a duplicate."""
    video = register_video(postgres_db)
    gate = threading.Event()
    step = CountingStep(gate=gate)
    handler = message_handler(step, postgres_db.session_factory)
    message = event_message(registered_event(video))
    outcomes: list[Outcome] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(handler(message).outcome)) for _ in range(2)
    ]
    for t in threads:
        t.start()
    while step.runs < 2:  # both passed the idempotency check and are in the long work
        threading.Event().wait(0.01)
    gate.set()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == [Outcome.DUPLICATE, Outcome.PROCESSED]
    assert count(postgres_db, OutboxEvent, event_type="transcription.completed") == 1
    assert count(postgres_db, VideoStatusLog, video_id=video.id, to_status="TRANSCRIBED") == 1


def test_a_message_the_loop_gives_up_on_fails_its_video(db: Database) -> None:
    """The handler could not record the failure itself (its recorder kept failing), so the
    delivery loop gave up on the message at the last attempt: the loop tells the handler,
    which sets the video FAILED (before: it stayed TRANSCRIBING for ever), and the broker's
    dead-letter table keeps the message."""
    video = register_video(db)
    calls = {"n": 0}

    def flaky_recorder(session: Session, video_id: str, stage: str, reason: str) -> None:
        calls["n"] += 1
        if calls["n"] <= 3:  # the handler's own three tries to record the failure
            raise RuntimeError("recorder unavailable")
        fail_video(session, video_id, stage, reason)

    step = CountingStep(failures=[NoAudioStreamError("talk.mp4", "/media/talk.mp4")] * 3)
    policy = DeliveryPolicy(3, Backoff(0.0, 0.0))
    handler = MessageHandler(step, db.session_factory, flaky_recorder, policy)
    broker = EmbeddedBroker(policy, DeadLetterTable(db.session_factory), sleep=lambda _s: None)
    broker.subscribe(TRANSCRIPTION.topic, TRANSCRIPTION.consumer, handler)
    broker.publish([event_message(registered_event(video), TRANSCRIPTION.topic)])

    [delivery] = broker.drain()
    assert delivery.result.outcome is Outcome.DEAD_LETTERED
    assert (step.runs, calls["n"]) == (3, 4)
    row = video_row(db, video.id)
    assert row.status == "FAILED"
    assert row.error is not None
    assert row.error.startswith("transcription failed after 3 attempt(s): RuntimeError")
    assert count(db, OutboxEvent, event_type="video.failed") == 1
    assert count(db, DeadLetter) == 1
    assert count(db, ProcessedMessage, outcome="failed") == 1


def test_giving_up_leaves_an_ended_video_as_it_is(db: Database) -> None:
    """A second give-up (another copy of the message) finds the video FAILED already: its
    first reason and its one `video.failed` event stay."""
    video = register_video(db)
    message = event_message(registered_event(video))
    handler = message_handler(CountingStep(), db.session_factory)
    handler.gave_up(message, "RuntimeError: first", 3)
    handler.gave_up(message, "RuntimeError: second", 3)
    row = video_row(db, video.id)
    assert row.status == "FAILED"
    assert row.error == "transcription failed after 3 attempt(s): RuntimeError: first"
    assert count(db, OutboxEvent, event_type="video.failed") == 1


class CancelledMidRun(CountingStep):
    """The user cancels while `run` works; the next stored progress report stops it."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    def run(self, event: Event) -> str:
        video_id = self.video_id(event)
        progress = StoredProgress(self.db.session_factory, video_id, "transcribe", min_interval=0)
        progress.start("transcribe", 60.0)
        progress.update("transcribe", 10.0)  # still TRANSCRIBING: stored
        assert video_row(self.db, video_id).progress == pytest.approx(100 * 10 / 60, abs=0.1)
        with self.db.session() as session:
            VideoService(session).cancel(video_id)
        progress.update("transcribe", 20.0)  # raises: the video left TRANSCRIBING
        raise AssertionError("the cancelled work went on")


def test_a_cancelled_video_stops_its_work_and_the_message_is_skipped(db: Database) -> None:
    video = register_video(db)
    handler = message_handler(CancelledMidRun(db), db.session_factory, max_attempts=5)
    result = handler(event_message(registered_event(video)), 1)
    assert result.outcome is Outcome.DUPLICATE  # done with: skipped, neither retried nor dead
    row = video_row(db, video.id)
    assert (row.status, row.error) == ("FAILED", CANCELLED_REASON)
    assert count(db, DeadLetter) == 0
    assert count(db, ProcessedMessage, outcome="skipped") == 1
    assert count(db, OutboxEvent, event_type="transcription.completed") == 0
    assert count(db, OutboxEvent, event_type="video.failed") == 1
