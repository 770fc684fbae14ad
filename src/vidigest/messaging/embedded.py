"""The embedded transport: the relay publishes into an in-process queue and the same
MessageHandlers consume from it. No servers; one process; the code path of the services is
exactly the distributed one.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vidigest.messaging.relay import OutboxRelay
from vidigest.messaging.transport import HandleResult, Message

log = logging.getLogger(__name__)

Handler = Callable[[Message, int], HandleResult]


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff before attempt `attempt + 1`."""
    return float(min(cap, base * 2 ** (attempt - 1)))


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
    _queue: deque[Message] = field(default_factory=deque)
    _subscribers: dict[str, list[tuple[str, Handler]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def subscribe(self, topic: str, name: str, handler: Handler) -> None:
        self._subscribers[topic].append((name, handler))

    def publish(self, messages: Sequence[Message]) -> None:
        self._queue.extend(messages)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def drain(self) -> list[Delivery]:
        """Deliver every queued message; returns what happened to each delivery."""
        deliveries: list[Delivery] = []
        while self._queue:
            message = self._queue.popleft()
            for name, handler in self._subscribers.get(message.topic, []):
                deliveries.append(self._deliver(message, name, handler))
        return deliveries

    def _deliver(self, message: Message, name: str, handler: Handler) -> Delivery:
        attempt = 1
        while True:
            result = handler(message, attempt)
            if result.done:
                return Delivery(message, name, result, attempt)
            delay = backoff_seconds(
                attempt, self.retry_backoff_seconds, self.retry_backoff_max_seconds
            )
            log.info("%s: retrying in %.1fs (%s)", name, delay, result.error)
            self.sleep(delay)
            attempt += 1


@dataclass
class EmbeddedRuntime:
    """Runs relay + broker until no event is left to publish or deliver."""

    relay: OutboxRelay
    broker: EmbeddedBroker

    def run_until_idle(self) -> list[Delivery]:
        deliveries: list[Delivery] = []
        while True:
            published = self.relay.publish_all()
            if published == 0 and self.broker.pending == 0:
                return deliveries
            deliveries.extend(self.broker.drain())
