"""Batches of a cheap step: several messages in one transaction, one SAVEPOINT each when one of
them fails, the same exactly-once effects as one message at a time (both backends)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select

from tests.support.factories import (
    CountingStep,
    SequenceStep,
    committed_seqs,
    count,
    message_handler,
    sequence_messages,
)
from vidigest.common.stages import TRANSCRIPTION
from vidigest.database.session import Database
from vidigest.messaging.delivery import batch_size
from vidigest.messaging.models import DeadLetter, ProcessedMessage
from vidigest.messaging.transport import Message, Outcome

TOPIC = TRANSCRIPTION.topic


@contextmanager
def commits(db: Database) -> Iterator[list[int]]:
    """Counts the COMMITs the engine sends while the block runs (in a one-item list)."""
    seen = [0]

    def on_commit(_connection: object) -> None:
        seen[0] += 1

    event.listen(db.engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(db.engine, "commit", on_commit)


def outcomes(results: list) -> list[Outcome]:  # type: ignore[type-arg]
    return [result.outcome for result in results]


def test_a_batch_commits_once(db: Database) -> None:
    handler = message_handler(SequenceStep(batch_size=8), db.session_factory)
    with commits(db) as seen:
        results = handler.handle_batch(sequence_messages("video-a", range(8), TOPIC))
    assert outcomes(results) == [Outcome.PROCESSED] * 8
    assert seen == [1]
    assert committed_seqs(db) == {"video-a": list(range(8))}
    assert count(db, ProcessedMessage, outcome="processed") == 8


def test_a_poison_message_in_the_middle_does_not_roll_back_its_neighbours(db: Database) -> None:
    """Message 3 of 7 fails for good: the batch is handled again with a savepoint each; the
    poison is dead-lettered (its video marked failed if it had one, a dead-letter row), the
    other six are processed, and all of it is one commit."""
    step = SequenceStep(batch_size=8, poison={3})
    handler = message_handler(step, db.session_factory)
    with commits(db) as seen:
        results = handler.handle_batch(sequence_messages("video-a", range(7), TOPIC))
    assert (
        outcomes(results)
        == [Outcome.PROCESSED] * 3 + [Outcome.DEAD_LETTERED] + [Outcome.PROCESSED] * 3
    )
    assert results[3].error == "transcription failed: no audio stream in clip-3.mp4"
    assert seen == [1]
    assert committed_seqs(db) == {"video-a": [0, 1, 2, 4, 5, 6]}
    assert count(db, ProcessedMessage, outcome="processed") == 6
    assert count(db, ProcessedMessage, outcome="failed") == 1
    with db.session() as session:
        letter = session.scalars(select(DeadLetter)).one()
    assert (letter.attempts, letter.error) == (1, results[3].error)


def test_a_malformed_message_in_the_middle_is_dead_lettered_in_the_batch(db: Database) -> None:
    messages = sequence_messages("video-a", range(4), TOPIC)
    bad = Message(topic=TOPIC, key="video-a", value=b"not json", origin=f"{TOPIC}/0/2")
    handler = message_handler(SequenceStep(), db.session_factory)
    results = handler.handle_batch([*messages[:2], bad, *messages[2:]])
    assert (
        outcomes(results)
        == [Outcome.PROCESSED] * 2 + [Outcome.DEAD_LETTERED] + [Outcome.PROCESSED] * 2
    )
    assert committed_seqs(db) == {"video-a": [0, 1, 2, 3]}
    assert count(db, DeadLetter, origin=f"{TOPIC}/0/2") == 1


def test_a_failure_that_may_pass_ends_the_batch_before_it(db: Database) -> None:
    """A retry is due for message 2 (it fails in the all-at-once try and again with its
    savepoint): the two before it commit, nothing of it or after it does; the transport
    delivers it alone (with retries), then the rest, so the order holds."""
    step = SequenceStep(flaky={2: 2})
    handler = message_handler(step, db.session_factory, max_attempts=3)
    messages = sequence_messages("video-a", range(5), TOPIC)
    assert outcomes(handler.handle_batch(messages)) == [Outcome.PROCESSED] * 2
    assert committed_seqs(db) == {"video-a": [0, 1]}
    assert count(db, ProcessedMessage) == 2
    # what the transport does next: message 2 alone (attempt 1 passes: its errors were
    # spent by the batch), then the rest as a batch
    assert handler(messages[2], 1).outcome is Outcome.PROCESSED
    assert outcomes(handler.handle_batch(messages[3:])) == [Outcome.PROCESSED] * 2
    assert committed_seqs(db) == {"video-a": [0, 1, 2, 3, 4]}


def test_duplicates_in_and_across_batches_change_nothing(db: Database) -> None:
    messages = sequence_messages("video-a", range(4), TOPIC)
    handler = message_handler(SequenceStep(), db.session_factory)
    assert outcomes(handler.handle_batch(messages[:2])) == [Outcome.PROCESSED] * 2
    # a redelivery of the first two, with a copy of message 2 inside the same batch
    again = [messages[0], messages[1], messages[2], messages[2], messages[3]]
    assert outcomes(handler.handle_batch(again)) == [
        Outcome.DUPLICATE,
        Outcome.DUPLICATE,
        Outcome.PROCESSED,
        Outcome.DUPLICATE,
        Outcome.PROCESSED,
    ]
    assert committed_seqs(db) == {"video-a": [0, 1, 2, 3]}
    assert count(db, ProcessedMessage) == 4


def test_only_cheap_steps_are_batched() -> None:
    """A step with work outside the transaction keeps one message per transaction whatever
    it declares; a step that declares nothing is not batched either."""
    from vidigest.database.session import Database as _Database

    database = _Database("sqlite://")
    try:
        factory = database.session_factory
        assert batch_size(message_handler(SequenceStep(batch_size=50), factory)) == 50
        heavy = SequenceStep(batch_size=50, checks_before_work=True)
        assert batch_size(message_handler(heavy, factory)) == 1
        assert batch_size(message_handler(CountingStep(checks_before_work=False), factory)) == 1
        assert batch_size(lambda message, attempt: None) == 1  # type: ignore[arg-type,return-value]
    finally:
        database.dispose()


def test_the_embedded_broker_batches_a_cheap_step_in_order(db: Database) -> None:
    """The in-process transport hands a batching handler the queued messages of its topic in
    batches: seq 5 is dead-lettered in its batch, seq 9 (a retry due) goes alone, with its
    retry, and the order of the effects is the order of the messages."""
    from vidigest.messaging.delivery import Backoff, DeliveryPolicy
    from vidigest.messaging.embedded import EmbeddedBroker

    step = SequenceStep(batch_size=8, poison={5}, flaky={9: 3})
    handler = message_handler(step, db.session_factory, max_attempts=3)
    broker = EmbeddedBroker(DeliveryPolicy(3, Backoff(0.0, 0.0)), sleep=lambda _s: None)
    broker.subscribe(TOPIC, TRANSCRIPTION.consumer, handler)
    broker.publish(sequence_messages("video-a", range(20), TOPIC))
    with commits(db) as seen:
        deliveries = broker.drain()
    assert [json.loads(d.message.value)["payload"]["seq"] for d in deliveries] == list(range(20))
    by_outcome = [d.result.outcome for d in deliveries]
    assert by_outcome.count(Outcome.DEAD_LETTERED) == 1
    assert by_outcome.count(Outcome.PROCESSED) == 19
    assert committed_seqs(db) == {"video-a": [s for s in range(20) if s != 5]}
    assert [d.attempts for d in deliveries if d.result.outcome is Outcome.PROCESSED].count(2) == 1
    # 0-7 (5 dead-lettered in it); 8-15 ends before 9; 9 alone (its second attempt commits);
    # 10-15; 16-19
    assert seen == [5]
