"""The embedded transport: the relay publishes into an in-process queue and the same
MessageHandlers consume from it. No servers; one process; the code path of the services is
exactly the distributed one.

The queue lives in memory, so a process that dies loses what it held. What plays the part of
Kafka's committed offsets is `processed_messages`: on start, the runtime hands each subscriber
again every published event it never processed (see `EmbeddedRuntime.recover`).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import exists, select

from vidigest.database.session import db_session_context
from vidigest.messaging.models import OutboxEvent, ProcessedMessage
from vidigest.messaging.relay import OutboxRelay
from vidigest.messaging.transport import HandleResult, Message, backoff_seconds

log = logging.getLogger(__name__)

Handler = Callable[[Message, int], HandleResult]


@dataclass
class Delivery:
    message: Message
    subscriber: str
    result: HandleResult
    attempts: int


@dataclass
class EmbeddedBroker:
    """Publisher + in-process delivery. Each subscriber is its own consumer group: it receives
    every message of its topic, in publish order, retried with backoff until `done`."""

    retry_backoff_seconds: float = 1.0
    retry_backoff_max_seconds: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    # (message, the one subscriber it is for, or None for all of the topic's subscribers)
    _queue: deque[tuple[Message, str | None]] = field(default_factory=deque)
    _subscribers: dict[str, list[tuple[str, Handler]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def subscribe(self, topic: str, name: str, handler: Handler) -> None:
        self._subscribers[topic].append((name, handler))

    def publish(self, messages: Sequence[Message]) -> None:
        self._queue.extend((message, None) for message in messages)

    def redeliver(self, message: Message, subscriber: str) -> None:
        self._queue.append((message, subscriber))

    def subscribers(self) -> dict[str, list[str]]:
        """Topic -> names of its subscribers."""
        return {topic: [name for name, _ in subs] for topic, subs in self._subscribers.items()}

    @property
    def pending(self) -> int:
        return len(self._queue)

    def drain(self) -> list[Delivery]:
        """Deliver every queued message; returns what happened to each delivery."""
        deliveries: list[Delivery] = []
        while self._queue:
            message, only = self._queue.popleft()
            for name, handler in self._subscribers.get(message.topic, []):
                if only is None or only == name:
                    deliveries.append(self._deliver(message, name, handler))
        return deliveries

    def _deliver(self, message: Message, name: str, handler: Handler) -> Delivery:
        attempt = 1
        retries = 0  # grows the backoff; `attempt` counts only tries the message is blamed for
        while True:
            result = handler(message, attempt)
            if result.done:
                return Delivery(message, name, result, attempt)
            retries += 1
            delay = backoff_seconds(
                retries, self.retry_backoff_seconds, self.retry_backoff_max_seconds
            )
            log.info("%s: retrying in %.1fs (%s)", name, delay, result.error)
            self.sleep(delay)
            if not result.transient:  # an outage (database down) is not the message's fault
                attempt += 1


@dataclass
class EmbeddedRuntime:
    """Runs relay + broker until no event is left to publish or deliver."""

    relay: OutboxRelay
    broker: EmbeddedBroker
    _recovered: bool = False

    def recover(self) -> int:
        """Queue again, for each subscriber, the published events it never processed (the
        process that held them died). Returns how many deliveries were queued."""
        queued = 0
        prefix = self.relay.topic_prefix
        with db_session_context(self.relay.session_factory) as session:
            for topic, names in self.broker.subscribers().items():
                for name in names:
                    not_processed = ~exists().where(
                        ProcessedMessage.consumer == name,
                        ProcessedMessage.message_id == OutboxEvent.event_id,
                    )
                    rows = session.scalars(
                        select(OutboxEvent)
                        .where(
                            OutboxEvent.topic == topic.removeprefix(prefix),
                            OutboxEvent.published_at.is_not(None),
                            not_processed,
                        )
                        .order_by(OutboxEvent.id)
                    ).all()
                    for row in rows:
                        self.broker.redeliver(self.relay.message_for(row), name)
                    queued += len(rows)
        if queued:
            log.warning("re-queued %d event(s) left unprocessed by an earlier run", queued)
        return queued

    def run_until_idle(self) -> list[Delivery]:
        if not self._recovered:
            self.recover()
            self._recovered = True
        deliveries: list[Delivery] = []
        while True:
            published = self.relay.publish_all()
            if published == 0 and self.broker.pending == 0:
                return deliveries
            deliveries.extend(self.broker.drain())
