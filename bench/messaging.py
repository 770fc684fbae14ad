"""Messaging benchmark: what the outbox relay and the shared handler cost.

    .venv/bin/python bench/messaging.py [--messages N] [--smoke]

Starts its own Kafka-protocol broker (tansu) and a throwaway PostgreSQL database, then measures,
in the same run:
  commit   the PostgreSQL commit latency of this machine (a loop of one-row commits): what the
           figures below are bound by, so that they say which machine they come from
  relay    events/s from outbox rows to Kafka (batches growing from `relay_batch_size` to
           `relay_max_batch_size`, and fixed at `relay_batch_size`)
           vs raw confluent-kafka producer msgs/s; both cold (new clients and topics, start-up
           included, as the first figures were taken) and warm (connected clients)
  handler  msgs/s through KafkaWorker + MessageHandler + inbox + outbox with a no-op service on
           PostgreSQL (processed mark, one outbox event, commit), batched (`--handler-batch`
           messages per transaction), unbatched, and with the check before the work (2 tx)
           vs raw consume + commit msgs/s
and SQL statements per handled message (counted with SQLAlchemy events; SAVEPOINTs included).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from sqlalchemy import event, insert, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.kafka_broker import TansuBroker
from tests.support.throwaway_db import throwaway_database

from vidigest.common.constants import EventType
from vidigest.common.stages import TRANSCRIPTION
from vidigest.common.types import Event
from vidigest.config import Settings
from vidigest.database.session import Database
from vidigest.messaging.codec import encode_event
from vidigest.messaging.delivery import DeliveryPolicy
from vidigest.messaging.handler import MessageHandler
from vidigest.messaging.models import OutboxEvent
from vidigest.messaging.outbox import OutboxService
from vidigest.messaging.relay import OutboxRelay
from vidigest.messaging.transport import HandleResult, Message
from vidigest.modules.videos.service import fail_video
from vidigest.providers.kafka.admin import create_topics
from vidigest.providers.kafka.consumer import KafkaWorker
from vidigest.providers.kafka.producer import KafkaPublisher


class NoOpStep:
    """A service that does nothing but announce it: one outbox event per message."""

    stage = TRANSCRIPTION  # its consumer name and event; the work is none

    def __init__(self, checks_before_work: bool, batch_size: int = 1) -> None:
        self.checks_before_work = checks_before_work
        self.batch_size = batch_size

    def video_id(self, event: Event) -> str:
        return event.aggregate_id

    def begin(self, session: Session, event: Event) -> None:
        pass

    def run(self, event: Event) -> None:
        return None

    def complete(self, session: Session, event: Event, result: None) -> None:
        OutboxService(session).add(
            Event(event_type=EventType.TRANSCRIPTION_COMPLETED, aggregate_id=event.aggregate_id)
        )


def events(n: int, topic: str) -> list[Message]:
    out = []
    for i in range(n):
        e = Event(event_type=EventType.VIDEO_REGISTERED, aggregate_id=f"video-{i % 97}")
        out.append(
            encode_event(
                str(e.event_id),
                e.event_type.value,
                e.aggregate_id,
                e.model_dump(mode="json"),
                topic,
            )
        )
    return out


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def commit_latency(db: Database, commits: int = 300) -> tuple[float, float]:
    """Median and 90th percentile ms of a one-row INSERT + COMMIT on this server."""
    seconds: list[float] = []
    with db.engine.connect() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS bench_commit_probe (n integer)"))
        connection.commit()
        for i in range(commits):
            started = time.perf_counter()
            connection.execute(text("INSERT INTO bench_commit_probe VALUES (:n)"), {"n": i})
            connection.commit()
            seconds.append(time.perf_counter() - started)
        connection.execute(text("DROP TABLE bench_commit_probe"))
        connection.commit()
    seconds.sort()
    return statistics.median(seconds) * 1000, seconds[int(0.9 * len(seconds))] * 1000


def produce_raw(producer: Producer, messages: list[Message]) -> float:
    """Messages/s of a bare idempotent producer: produce all, then wait for every ack."""
    started = time.perf_counter()
    for m in messages:
        producer.produce(m.topic, key=m.key, value=m.value, headers=list(m.headers.items()))
        producer.poll(0)
    producer.flush(60)
    return rate(len(messages), time.perf_counter() - started)


def relay_rows(
    db: Database, settings: Settings, publisher: KafkaPublisher, topic: str, n: int, max_batch: int
) -> float:
    """Events/s of the relay over `n` fresh outbox rows of `topic`."""
    rows = [
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "video.registered",
            "aggregate_type": "video",
            "aggregate_id": f"video-{i % 97}",
            "topic": topic,
            "payload": {"event_type": "video.registered", "aggregate_id": f"video-{i % 97}"},
        }
        for i in range(n)
    ]
    with db.session() as session:
        session.execute(insert(OutboxEvent), rows)
    relay = OutboxRelay(
        db.session_factory,
        publisher,
        batch_size=settings.relay_batch_size,
        max_batch_size=max_batch,
    )
    started = time.perf_counter()
    published = relay.publish_all()
    relayed = rate(published, time.perf_counter() - started)
    assert published == n, (published, n)
    return relayed


def bench_relay(db: Database, settings: Settings, n: int) -> dict[str, float]:
    """Relay vs raw producer, twice: *cold* (a new producer on a new topic, its start-up of
    about half a second included: the way these figures were first taken) and *warm* (the
    same clients once connected: a long-running relay's steady state)."""
    growing, fixed = settings.relay_max_batch_size, settings.relay_batch_size
    topics = {name: f"{name}-{uuid.uuid4().hex[:6]}" for name in ("raw", "grow", "fixed")}
    create_topics(settings, list(topics.values()), partitions=6)
    producer_conf = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
    }
    figures: dict[str, float] = {}
    producer = Producer(producer_conf)
    figures["raw cold"] = produce_raw(producer, events(n, topics["raw"]))
    figures["raw warm"] = produce_raw(producer, events(n, topics["raw"]))
    for name, max_batch in (("grow", growing), ("fixed", fixed)):
        publisher = KafkaPublisher(settings)
        figures[f"{name} cold"] = relay_rows(db, settings, publisher, topics[name], n, max_batch)
        figures[f"{name} warm"] = relay_rows(db, settings, publisher, topics[name], n, max_batch)
        publisher.close()
    return figures


def consume_raw(settings: Settings, topic: str, n: int) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"raw-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([topic])
    seen, started = 0, 0.0
    while seen < n:
        message = consumer.poll(1.0)
        if message is None or message.error():
            continue
        if seen == 0:
            started = time.perf_counter()
        consumer.commit(message=message, asynchronous=True)
        seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return rate(n - 1, elapsed)


class Counted:
    """The handler, counting what it finished (one by one or in batches) and when; keeps its
    batch interface, so the worker batches it as it would the handler itself."""

    def __init__(self, handler: MessageHandler[None], n: int) -> None:
        self.handler = handler
        self.n = n
        self.handled = 0
        self.first: float | None = None
        self.last = 0.0
        self.done = threading.Event()

    @property
    def batch_size(self) -> int:
        return self.handler.batch_size

    def _count(self, results: int) -> None:
        self.handled += results
        self.last = time.perf_counter()
        if self.handled >= self.n:
            self.done.set()

    def __call__(self, message: Message, attempt: int) -> HandleResult:
        self.first = self.first or time.perf_counter()
        result = self.handler(message, attempt)
        self._count(1)
        return result

    def handle_batch(self, messages: Sequence[Message]) -> list[HandleResult]:
        self.first = self.first or time.perf_counter()
        results = self.handler.handle_batch(messages)
        self._count(len(results))
        return results


def consume_handler(
    db: Database,
    settings: Settings,
    topic: str,
    n: int,
    checks_before_work: bool,
    batch_size: int = 1,
) -> tuple[float, float]:
    handler = MessageHandler(
        NoOpStep(checks_before_work, batch_size),
        db.session_factory,
        fail_video,
        DeliveryPolicy.from_settings(settings),
    )
    count = {"statements": 0}
    handle = Counted(handler, n)

    def on_statement(*_: Any) -> None:
        count["statements"] += 1

    event.listen(db.engine, "before_cursor_execute", on_statement)
    stop = threading.Event()
    worker = KafkaWorker(
        settings, [topic], handle, f"{topic}.dlq", group_id=f"handler-{uuid.uuid4().hex[:6]}"
    )
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    handle.done.wait(600)
    stop.set()
    thread.join(60)
    event.remove(db.engine, "before_cursor_execute", on_statement)
    assert handle.handled == n and handle.first is not None, (handle.handled, n)
    return rate(n, handle.last - handle.first), count["statements"] / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument(
        "--handler-batch", type=int, default=100, help="messages per transaction, batched run"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny run: checks the bench works")
    args = parser.parse_args()
    n = 200 if args.smoke else args.messages

    with throwaway_database("vidigest_bench") as url:
        db = Database(url)
        with TansuBroker() as broker:
            settings = Settings(kafka_bootstrap=broker.bootstrap, session_timeout_ms=6000)
            commit_ms = commit_latency(db)
            relay = bench_relay(db, settings, n)
            # each run gets its own topic of fresh events (new ids: nothing is a duplicate)
            topics = [f"handler-{uuid.uuid4().hex[:6]}" for _ in range(3)]
            create_topics(settings, [*topics, *(f"{t}.dlq" for t in topics)], partitions=6)
            publisher = KafkaPublisher(settings)
            for topic in topics:
                publisher.publish(events(n, topic))
            publisher.close()
            raw_consume = consume_raw(settings, topics[0], n)
            batched = consume_handler(
                db, settings, topics[0], n, checks_before_work=False, batch_size=args.handler_batch
            )
            one_tx = consume_handler(db, settings, topics[1], n, checks_before_work=False)
            two_tx = consume_handler(db, settings, topics[2], n, checks_before_work=True)
        db.dispose()
    batch, max_batch = settings.relay_batch_size, settings.relay_max_batch_size
    print(f"messages: {n}")
    print(f"PostgreSQL commit latency: median {commit_ms[0]:.2f} ms, p90 {commit_ms[1]:.2f} ms")
    print(f"{'measure':<60}{'per second':>12}{'ratio':>8}")
    for state in ("cold", "warm"):
        raw_produce = relay[f"raw {state}"]
        label = f"raw confluent-kafka producer, {state} (baseline)"
        print(f"{label:<60}{raw_produce:>12,.0f}{1:>8.2f}")
        for label, relayed in (
            (
                f"outbox relay, {state}, batches {batch} growing to {max_batch}",
                relay[f"grow {state}"],
            ),
            (f"outbox relay, {state}, batches of {batch}", relay[f"fixed {state}"]),
        ):
            print(f"{label:<60}{relayed:>12,.0f}{relayed / raw_produce:>8.2f}")
    print(f"{'raw consume + commit (baseline)':<60}{raw_consume:>12,.0f}{1:>8.2f}")
    for label, (handled, statements) in (
        (f"handler+inbox+outbox, no-op, {args.handler_batch} msgs/transaction", batched),
        ("handler+inbox+outbox, no-op, 1 transaction/msg", one_tx),
        ("same, with the check before work (2 tx/msg)", two_tx),
    ):
        print(
            f"{label:<60}{handled:>12,.0f}{handled / raw_consume:>8.3f}"
            f"   {statements:.2f} SQL statements/message"
        )


if __name__ == "__main__":
    main()
