"""The embedded transport: the relay publishes into an in-process queue and the same
MessageHandlers consume from it. No servers; one process; the code path of the services is
exactly the distributed one.

The queue lives in memory, so a process that dies loses what it held. What plays the part of
Kafka's committed offsets is `processed_messages`: on start, the runtime hands each subscriber
again every published event it never processed (see `EmbeddedRuntime.recover`).

Retries, attempt counting and giving up follow the `DeliveryPolicy` (`messaging/delivery.py`),
the same one the Kafka worker uses. A message the policy gives up on (a handler that keeps
raising, or asks for a retry at its final attempt) goes to the `dead_letter` sink, this
transport's counterpart of Kafka's dead-letter topic; `app.py` wires the `dead_letters` table.

A subscriber whose handler batches (`BatchHandler`, a cheap step's `MessageHandler`) gets the
queued messages of its topic in batches, as the Kafka worker gives it a partition's: the prefix
its transaction finished is done, the next message goes alone, then the rest, in order.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import exists, select

from vidigest.database.session import db_session_context
from vidigest.messaging.delivery import (
    BatchHandler,
    DeadLetter,
    DeliveryPolicy,
    Handler,
    Retry,
    batch_size,
)
from vidigest.messaging.models import OutboxEvent, ProcessedMessage
from vidigest.messaging.relay import OutboxRelay
from vidigest.messaging.transport import HandleResult, Message

log = logging.getLogger(__name__)

# (subscriber, message, error, attempts): keeps a message the policy gave up on; raises if it
# cannot (the database is down), and is then called again after a backoff.
DeadLetterSink = Callable[[str, Message, str, int], None]


def log_dead_letter(subscriber: str, message: Message, error: str, attempts: int) -> None:
    """The sink of a broker without storage (tests, tools): the log is the only record."""
    log.error(
        "%s: gave up on %s (key %s) after %d attempt(s): %s",
        subscriber,
        message.topic,
        message.key,
        attempts,
        error,
    )


@dataclass
class Delivery:
    message: Message
    subscriber: str
    result: HandleResult
    attempts: int


@dataclass
class EmbeddedBroker:
    """Publisher + in-process delivery. Each subscriber is its own consumer group: it receives
    every message of its topic, in publish order, each one handled as `policy` decides."""

    policy: DeliveryPolicy
    dead_letter: DeadLetterSink = log_dead_letter
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
            messages, only = self._next_run()
            for name, handler in self._subscribers.get(messages[0].topic, []):
                if only is None or only == name:
                    deliveries.extend(self._deliver_run(messages, name, handler))
        return deliveries

    def _next_run(self) -> tuple[list[Message], str | None]:
        """The head of the queue and the entries after it for the same topic and subscribers,
        as many as the largest batch one of those subscribers takes (one when none batches)."""
        message, only = self._queue.popleft()
        subscribers = self._subscribers.get(message.topic, [])
        limit = max((batch_size(h) for n, h in subscribers if only in (None, n)), default=1)
        run = [message]
        while len(run) < limit and self._queue:
            following, following_only = self._queue[0]
            if following.topic != message.topic or following_only != only:
                break
            run.append(self._queue.popleft()[0])
        return run, only

    def _deliver_run(self, messages: list[Message], name: str, handler: Handler) -> list[Delivery]:
        """`messages` to one subscriber, in order: in batches when its handler batches."""
        deliveries: list[Delivery] = []
        size = batch_size(handler)
        pending = list(messages)
        while pending:
            if size > 1 and len(pending) > 1 and isinstance(handler, BatchHandler):
                batch = pending[:size]
                verdicts = self.policy.deliver_batch(handler, batch, name)
                deliveries.extend(
                    Delivery(m, name, v.result, 1) for m, v in zip(batch, verdicts, strict=False)
                )
                pending = pending[len(verdicts) :]
                if not pending or len(verdicts) == len(batch):
                    continue
            deliveries.append(self._deliver(pending.pop(0), name, handler))
        return deliveries

    def _deliver(self, message: Message, name: str, handler: Handler) -> Delivery:
        """Call the handler until the policy says done or dead-letter; never raises for what
        the handler raises, so a popped message is always accounted for."""
        attempt, outages = 1, 0
        while True:
            verdict = self.policy.deliver(handler, message, attempt, outages, name)
            if not isinstance(verdict, Retry):
                break
            log.info(
                "%s: retrying in %.1fs (attempt %d %s: %s)",
                name,
                verdict.after,
                attempt,
                "not counted" if verdict.transient else "failed",
                verdict.error,
            )
            self.sleep(verdict.after)
            attempt, outages = verdict.attempt, verdict.outages
        if isinstance(verdict, DeadLetter) and not verdict.recorded:
            self._keep(name, message, verdict.error, attempt)
        return Delivery(message, name, verdict.result, attempt)

    def _keep(self, name: str, message: Message, error: str, attempts: int) -> None:
        """Hand a given-up message to the dead-letter sink; like the Kafka worker with its
        dead-letter topic, wait (with backoff) until it is kept rather than lose it."""
        failures = 0
        while True:
            try:
                self.dead_letter(name, message, error, attempts)
                return
            except Exception as exc:
                failures += 1
                delay = self.policy.backoff.seconds(failures)
                log.error("%s: cannot dead-letter, trying again in %.1fs: %r", name, delay, exc)
                self.sleep(delay)


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
