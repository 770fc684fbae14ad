"""The one delivery policy (`messaging/delivery.py`): its rules as a pure function, the embedded
broker keeping what it gives up on in the database, and `run-all`'s restart backoff.

The behaviour over both real transports is in tests/integration/test_transport_contract.py."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import select

from tests.factories import register_video
from vidigest.common.constants import Topic
from vidigest.database.session import Database, db_session_context
from vidigest.messaging.dead_letters import DeadLetterTable
from vidigest.messaging.delivery import Backoff, DeadLetter, DeliveryPolicy, Done, Retry
from vidigest.messaging.embedded import EmbeddedBroker, EmbeddedRuntime
from vidigest.messaging.models import DeadLetter as DeadLetterRow
from vidigest.messaging.models import ProcessedMessage
from vidigest.messaging.relay import OutboxRelay
from vidigest.messaging.transport import HandleResult, Message, Outcome
from vidigest.workers import Child, Supervisor

POLICY = DeliveryPolicy(max_attempts=3, backoff=Backoff(0.5, 1.5))
RETRY = HandleResult(Outcome.RETRY, "flaky")
OUTAGE = HandleResult(Outcome.RETRY, "database down", transient=True)


def test_backoff_doubles_from_base_up_to_the_cap() -> None:
    assert [Backoff(0.5, 3.0).seconds(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_counted_retries_then_dead_letter_at_the_final_attempt() -> None:
    assert POLICY.decide(RETRY, 1) == Retry(0.5, 2, 0, "flaky", False)
    assert POLICY.decide(RETRY, 2) == Retry(1.0, 3, 0, "flaky", False)
    assert POLICY.decide(RETRY, 3) == DeadLetter("flaky", recorded=False)


def test_an_exception_is_a_failed_attempt() -> None:
    assert POLICY.decide(ValueError("bad"), 1) == Retry(0.5, 2, 0, "ValueError: bad", False)
    assert POLICY.decide(ValueError(), 3) == DeadLetter("ValueError", recorded=False)


def test_an_outage_never_counts_and_never_dead_letters() -> None:
    first = POLICY.decide(OUTAGE, 3)  # even at the final attempt
    assert first == Retry(0.5, 3, 1, "database down", True)
    later = POLICY.decide(OUTAGE, 3, outages=5)
    assert later == Retry(1.5, 3, 6, "database down", True)  # backoff grows with outages


def test_done_and_the_handlers_own_dead_letter() -> None:
    processed = HandleResult(Outcome.PROCESSED)
    assert POLICY.decide(processed, 3) == Done(processed)
    duplicate = HandleResult(Outcome.DUPLICATE)
    assert POLICY.decide(duplicate, 1) == Done(duplicate)
    dead = HandleResult(Outcome.DEAD_LETTERED, "no audio stream")
    assert POLICY.decide(dead, 1) == DeadLetter("no audio stream", recorded=True)


def test_deliver_turns_a_raising_handler_into_a_verdict() -> None:
    def handler(message: Message, attempt: int) -> HandleResult:
        raise RuntimeError("bug")

    message = Message("t", "k", b"v")
    assert POLICY.deliver(handler, message, 1) == Retry(0.5, 2, 0, "RuntimeError: bug", False)
    assert POLICY.deliver(handler, message, 3) == DeadLetter("RuntimeError: bug", recorded=False)


def test_embedded_broker_keeps_a_given_up_message_and_recover_skips_it(db: Database) -> None:
    """A handler that raises no longer escapes `drain()`: after `max_attempts` calls the
    message is dead-lettered in the database, and the next process start (`recover`) does not
    deliver it again."""
    video = register_video(db)  # its outbox row: video.registered
    calls: list[int] = []

    def handler(message: Message, attempt: int) -> HandleResult:
        calls.append(attempt)
        raise RuntimeError("handler bug")

    def runtime() -> EmbeddedRuntime:
        broker = EmbeddedBroker(
            POLICY, dead_letter=DeadLetterTable(db.session_factory), sleep=lambda _s: None
        )
        broker.subscribe(Topic.VIDEO_REGISTERED.value, "tester", handler)
        return EmbeddedRuntime(OutboxRelay(db.session_factory, broker), broker)

    (delivery,) = runtime().run_until_idle()
    assert (delivery.result.outcome, delivery.attempts) == (Outcome.DEAD_LETTERED, 3)
    assert calls == [1, 2, 3]

    with db_session_context(db.session_factory) as session:
        (row,) = session.scalars(select(DeadLetterRow)).all()
        assert (row.consumer, row.message_key, row.attempts) == ("tester", video.id, 3)
        assert row.error == "RuntimeError: handler bug"
        mark = session.scalars(select(ProcessedMessage)).one()
        assert (mark.consumer, mark.message_id, mark.outcome) == (
            "tester",
            row.message_id,
            "failed",
        )

    assert runtime().recover() == 0
    assert calls == [1, 2, 3]


def test_embedded_broker_waits_for_the_dead_letter_sink() -> None:
    """A sink that fails (the database is down) is called again, with backoff, until it keeps
    the message: like the Kafka worker and its dead-letter topic, nothing is dropped."""
    kept: list[str] = []
    failures = [OSError("down"), OSError("down")]
    waits: list[float] = []

    def sink(subscriber: str, message: Message, error: str, attempts: int) -> None:
        if failures:
            raise failures.pop(0)
        kept.append(error)

    broker = EmbeddedBroker(POLICY, dead_letter=sink, sleep=waits.append)
    broker.subscribe("t", "s", lambda message, attempt: RETRY)
    broker.publish([Message("t", "k", b"v")])
    (delivery,) = broker.drain()
    assert delivery.result == HandleResult(Outcome.DEAD_LETTERED, "flaky")
    assert kept == ["flaky"]
    assert waits == [0.5, 1.0, 0.5, 1.0]  # two counted retries, then two sink failures


@pytest.mark.timeout(60)
def test_supervisor_restart_delay_is_the_retry_backoff() -> None:
    """A child that keeps dying is restarted after 0.5 s, 1 s, 2 s ... capped: `Backoff`."""
    child = Child("dies", [sys.executable, "-c", "raise SystemExit(3)"])
    supervisor = Supervisor([child], max_backoff=1.5)
    now, delays = 0.0, []
    for _ in range(4):
        supervisor._tend(child, now)  # starts it
        assert child.process is not None
        assert child.process.wait(30) == 3
        now += 1.0
        supervisor._tend(child, now)  # sees it dead: schedules the restart
        delays.append(child.next_start - now)
        now = child.next_start
    assert delays == [0.5, 1.0, 1.5, 1.5]
