"""Several outbox relays at once on PostgreSQL: every event published exactly once, in id order
within each relay's batches (rows are locked with FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from sqlalchemy import func, insert, select

from vidigest.database.session import Database
from vidigest.messaging.models import OutboxEvent
from vidigest.messaging.relay import OutboxRelay
from vidigest.messaging.transport import Message

pytestmark = pytest.mark.integration


class SlowRecorder:
    """A publisher that takes a little time per batch, so relays really overlap."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def publish(self, messages: Sequence[Message]) -> None:
        time.sleep(0.01)
        with self.lock:
            self.batches.append([m.headers["event_id"] for m in messages])


@pytest.mark.parametrize("max_batch_size", [None, 200], ids=["fixed", "growing"])
def test_concurrent_relays_publish_each_event_once(
    postgres_db: Database, max_batch_size: int | None
) -> None:
    total = 600
    with postgres_db.session() as session:
        session.execute(
            insert(OutboxEvent),
            [
                {
                    "event_id": f"e-{i:04d}",
                    "event_type": "video.registered",
                    "aggregate_type": "video",
                    "aggregate_id": f"v-{i % 7}",
                    "topic": "video.registered",
                    "payload": {},
                }
                for i in range(total)
            ],
        )
    publisher = SlowRecorder()
    relays = [
        OutboxRelay(
            postgres_db.session_factory, publisher, batch_size=25, max_batch_size=max_batch_size
        )
        for _ in range(3)
    ]
    threads = [threading.Thread(target=relay.publish_all) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    published = [event_id for batch in publisher.batches for event_id in batch]
    assert sorted(published) == [f"e-{i:04d}" for i in range(total)]  # all, none twice
    assert all(batch == sorted(batch) for batch in publisher.batches)  # id order per batch
    assert len(publisher.batches) >= 3 * 2  # the relays did share the work
    with postgres_db.session() as session:
        pending = session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
        )
    assert pending == 0
