"""The outbox relay on both backends: claim, publish, commit per batch; batches that grow with
a backlog; a failed publish leaves every row of its batch pending."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import func, insert, select

from vidigest.database.session import Database
from vidigest.messaging.models import OutboxEvent
from vidigest.messaging.relay import OutboxRelay
from vidigest.messaging.transport import Message


class Recorder:
    def __init__(self, fail_at_batch: int | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_at_batch = fail_at_batch

    def publish(self, messages: Sequence[Message]) -> None:
        if self.fail_at_batch is not None and len(self.batches) == self.fail_at_batch:
            self.fail_at_batch = None
            raise ConnectionError("broker unreachable")
        self.batches.append([m.headers["event_id"] for m in messages])


def add_events(db: Database, total: int, start: int = 0) -> None:
    with db.session() as session:
        session.execute(
            insert(OutboxEvent),
            [
                {
                    "event_id": f"e-{i:04d}",
                    "event_type": "video.registered",
                    "aggregate_type": "video",
                    "aggregate_id": f"v-{i % 7}",
                    "topic": "video.registered",
                    "payload": {"n": i},
                }
                for i in range(start, start + total)
            ],
        )


def pending(db: Database) -> int:
    with db.session() as session:
        stmt = select(func.count()).select_from(OutboxEvent)
        return int(session.scalar(stmt.where(OutboxEvent.published_at.is_(None))) or 0)


def test_batches_grow_with_a_backlog_and_shrink_after(db: Database) -> None:
    add_events(db, 100)
    publisher = Recorder()
    relay = OutboxRelay(db.session_factory, publisher, batch_size=5, max_batch_size=20)
    assert relay.publish_all() == 100
    assert [len(batch) for batch in publisher.batches] == [5, 10, 20, 20, 20, 20, 5]
    published = [event_id for batch in publisher.batches for event_id in batch]
    assert published == [f"e-{i:04d}" for i in range(100)]  # id order, across batches too
    assert pending(db) == 0
    add_events(db, 3, start=100)  # the backlog was gone: a quiet system's small batch again
    assert relay.publish_batch() == 3
    assert relay.publish_batch() == 0


def test_a_failed_publish_leaves_its_batch_pending(db: Database) -> None:
    """The claim (rows marked published) is rolled back with the transaction: nothing is
    lost, and the same rows are the next batch."""
    add_events(db, 30)
    publisher = Recorder(fail_at_batch=1)
    relay = OutboxRelay(db.session_factory, publisher, batch_size=10, max_batch_size=10)
    assert relay.publish_batch() == 10
    with pytest.raises(ConnectionError):
        relay.publish_batch()
    assert pending(db) == 20
    assert relay.publish_all() == 20
    published = [event_id for batch in publisher.batches for event_id in batch]
    assert published == [f"e-{i:04d}" for i in range(30)]
    assert pending(db) == 0


def test_the_message_is_the_row(db: Database) -> None:
    add_events(db, 1)
    received: list[Message] = []

    class Keep:
        def publish(self, messages: Sequence[Message]) -> None:
            received.extend(messages)

    OutboxRelay(db.session_factory, Keep(), topic_prefix="p.").publish_all()
    (message,) = received
    assert (message.topic, message.key, message.value) == ("p.video.registered", "v-0", b'{"n":0}')
    assert message.headers == {"event_id": "e-0000", "event_type": "video.registered"}
