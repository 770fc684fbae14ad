"""Outbox relay: publishes pending outbox rows, in id order, and marks them published.

Read, publish and mark happen in one transaction. Rows are locked with FOR UPDATE SKIP LOCKED
(PostgreSQL), so several relays can run at once without publishing the same row twice in the
normal case. A crash between publish and commit re-publishes those rows later (at-least-once);
consumers deduplicate by the event id carried in the `event_id` header.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select, update

from vidigest.database.base import utcnow
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.messaging.codec import encode_event
from vidigest.messaging.delivery import Backoff
from vidigest.messaging.models import OutboxEvent
from vidigest.messaging.transport import Message, Publisher

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        session_factory: SessionFactory,
        publisher: Publisher,
        *,
        batch_size: int = 100,
        topic_prefix: str = "",
    ) -> None:
        self.session_factory = session_factory
        self.publisher = publisher
        self.batch_size = batch_size
        self.topic_prefix = topic_prefix

    def publish_batch(self) -> int:
        """Publish up to one batch of pending events; returns how many were published."""
        with db_session_context(self.session_factory) as session:
            rows = session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.published_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0
            self.publisher.publish([self.message_for(row) for row in rows])
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_([row.id for row in rows]))
                .values(published_at=utcnow())
            )
            return len(rows)

    def message_for(self, row: OutboxEvent) -> Message:
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
