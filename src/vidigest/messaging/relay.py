"""Outbox relay: publishes pending outbox rows, in id order, and marks them published.

Claim, publish and commit happen in one transaction per batch. The claim is one statement:
`UPDATE outbox_events SET published_at = now WHERE id IN (the oldest pending rows, FOR UPDATE
SKIP LOCKED) RETURNING` the rows, so several relays can run at once without publishing the same
row twice in the normal case. The mark is visible only if the transaction commits, and it
commits only after the broker has acknowledged every message of the batch; a failed publish rolls
the claim back. A crash between publish and commit re-publishes those rows later
(at-least-once); consumers deduplicate by the event id carried in the `event_id` header.

Batches grow while there is a backlog: a full batch doubles the next one, up to
`max_batch_size`, and the size falls back to `batch_size` once the backlog is gone. A batch's
fixed costs (a broker round trip, a commit that waits for the disk: milliseconds on an ordinary
one) are then shared by up to `max_batch_size` rows, so the relay keeps pace with a bare producer
on a slow disk, while a quiet system still publishes each event in a small batch at once.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from sqlalchemy import Select, select, update

from vidigest.database.base import utcnow
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.messaging.codec import encode_event
from vidigest.messaging.delivery import Backoff
from vidigest.messaging.models import OutboxEvent
from vidigest.messaging.transport import Message, Publisher

log = logging.getLogger(__name__)


class OutboxRow(Protocol):
    """What a message is made of: an `OutboxEvent`, or a row of the relay's claim."""

    @property
    def event_id(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def aggregate_id(self) -> str: ...
    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> dict[str, object]: ...


class OutboxRelay:
    def __init__(
        self,
        session_factory: SessionFactory,
        publisher: Publisher,
        *,
        batch_size: int = 100,
        max_batch_size: int | None = None,
        topic_prefix: str = "",
    ) -> None:
        self.session_factory = session_factory
        self.publisher = publisher
        self.batch_size = batch_size
        self.max_batch_size = max(batch_size, max_batch_size or batch_size)
        self.topic_prefix = topic_prefix
        self._next_size = batch_size

    def publish_batch(self) -> int:
        """Publish up to one batch of pending events; returns how many were published."""
        size = self._next_size
        with db_session_context(self.session_factory) as session:
            oldest_pending: Select[int] = (
                select(OutboxEvent.id)
                .where(OutboxEvent.published_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(size)
                .with_for_update(skip_locked=True)
            )
            if session.get_bind().dialect.name == "postgresql":
                # A MATERIALIZED CTE is evaluated once; a plain IN (subquery) may be run again
                # by the planner and claim more than `size` rows. Not on SQLite (one writer at
                # a time anyway): its driver opens no transaction for a statement that starts
                # with WITH, so the claim would commit on its own, before the publish.
                claim = oldest_pending.cte("oldest_pending").prefix_with("MATERIALIZED")
                oldest_pending = select(claim.c.id)
            claimed = session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(oldest_pending))
                .values(published_at=utcnow())
                .returning(
                    OutboxEvent.id,
                    OutboxEvent.event_id,
                    OutboxEvent.event_type,
                    OutboxEvent.aggregate_id,
                    OutboxEvent.topic,
                    OutboxEvent.payload,
                )
                .execution_options(synchronize_session=False)
            ).all()
            rows = sorted(claimed, key=lambda row: row.id)  # RETURNING has no order
            if rows:
                self.publisher.publish([self.message_for(row) for row in rows])
        # a full batch: there is a backlog, take more next time; else back to the small size
        self._next_size = (
            min(self.max_batch_size, size * 2) if len(rows) == size else self.batch_size
        )
        return len(rows)

    def message_for(self, row: OutboxRow) -> Message:
        return encode_event(
            row.event_id,
            row.event_type,
            row.aggregate_id,  # the key: one video's events stay in one partition, in order
            row.payload,
            f"{self.topic_prefix}{row.topic}",
        )

    def publish_all(self) -> int:
        total = 0
        while published := self.publish_batch():
            total += published
        return total

    def run(
        self, stop: threading.Event, poll_seconds: float = 0.5, max_backoff: float = 30.0
    ) -> None:
        """Publish until `stop` is set; back off while the database or broker is unreachable
        (the message-retry formula, `Backoff`, starting at `poll_seconds`)."""
        backoff = Backoff(poll_seconds, max_backoff)
        failures = 0
        while not stop.is_set():
            try:
                published = self.publish_batch()
                failures = 0
            except Exception as exc:
                failures += 1
                delay = backoff.seconds(failures)
                log.warning("relay: publish failed, retrying in %.1fs: %r", delay, exc)
                stop.wait(delay)
                continue
            if published == 0:
                stop.wait(poll_seconds)
