"""Messaging benchmark: what the outbox relay and the shared handler cost.

    .venv/bin/python bench/messaging.py [--messages N] [--smoke]

Starts its own Kafka-protocol broker (tansu) and a throwaway PostgreSQL database, then measures,
in the same run:
  relay    events/s from outbox rows to Kafka     vs raw confluent-kafka producer msgs/s
  handler  msgs/s through KafkaWorker + MessageHandler + inbox + outbox with a no-op service on
           PostgreSQL (processed mark, one outbox event, commit)  vs raw consume + commit msgs/s
and SQL statements per handled message (counted with SQLAlchemy events).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from sqlalchemy import event, insert
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

    def __init__(self, checks_before_work: bool) -> None:
        self.checks_before_work = checks_before_work

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


def bench_relay(db: Database, settings: Settings, n: int) -> tuple[float, float]:
    raw_topic, relay_topic = f"raw-{uuid.uuid4().hex[:6]}", f"relay-{uuid.uuid4().hex[:6]}"
    create_topics(settings, [raw_topic, relay_topic], partitions=6)
    messages = events(n, raw_topic)

    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
        }
    )
    started = time.perf_counter()
    for m in messages:
        producer.produce(m.topic, key=m.key, value=m.value, headers=list(m.headers.items()))
        producer.poll(0)
    producer.flush(60)
    raw = rate(n, time.perf_counter() - started)

    rows = [
        {
            "event_id": m.headers["event_id"],
            "event_type": "video.registered",
            "aggregate_type": "video",
            "aggregate_id": m.key,
            "topic": relay_topic,
            "payload": {"event_type": "video.registered", "aggregate_id": m.key},
        }
        for m in messages
    ]
    with db.session() as session:
        session.execute(insert(OutboxEvent), rows)
    publisher = KafkaPublisher(settings)
    relay = OutboxRelay(db.session_factory, publisher, batch_size=settings.relay_batch_size)
    started = time.perf_counter()
    published = relay.publish_all()
    relayed = rate(published, time.perf_counter() - started)
    publisher.close()
    assert published == n, (published, n)
    return raw, relayed


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


def consume_handler(
    db: Database, settings: Settings, topic: str, n: int, checks_before_work: bool
) -> tuple[float, float]:
    handler = MessageHandler(
        NoOpStep(checks_before_work),
        db.session_factory,
        fail_video,
        DeliveryPolicy.from_settings(settings),
    )
    count = {"handled": 0, "statements": 0}
    times: list[float] = []
    done = threading.Event()

    def handle(message: Message, attempt: int) -> HandleResult:
        result = handler(message, attempt)
        count["handled"] += 1
        times.append(time.perf_counter())
        if count["handled"] >= n:
            done.set()
        return result

    def on_statement(*_: Any) -> None:
        count["statements"] += 1

    event.listen(db.engine, "before_cursor_execute", on_statement)
    stop = threading.Event()
    worker = KafkaWorker(
        settings, [topic], handle, f"{topic}.dlq", group_id=f"handler-{uuid.uuid4().hex[:6]}"
    )
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    done.wait(600)
    stop.set()
    thread.join(60)
    event.remove(db.engine, "before_cursor_execute", on_statement)
    return rate(n - 1, times[-1] - times[0]), count["statements"] / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--smoke", action="store_true", help="tiny run: checks the bench works")
    args = parser.parse_args()
    n = 200 if args.smoke else args.messages

    with throwaway_database("vidigest_bench") as url:
        db = Database(url)
        with TansuBroker() as broker:
            settings = Settings(kafka_bootstrap=broker.bootstrap, session_timeout_ms=6000)
            raw_produce, relay = bench_relay(db, settings, n)
            # each run gets its own topic of fresh events (new ids: nothing is a duplicate)
            topics = [f"handler-{uuid.uuid4().hex[:6]}" for _ in range(2)]
            create_topics(settings, [*topics, *(f"{t}.dlq" for t in topics)], partitions=6)
            publisher = KafkaPublisher(settings)
            for topic in topics:
                publisher.publish(events(n, topic))
            publisher.close()
            raw_consume = consume_raw(settings, topics[0], n)
            one_tx = consume_handler(db, settings, topics[0], n, checks_before_work=False)
            two_tx = consume_handler(db, settings, topics[1], n, checks_before_work=True)
        db.dispose()
    print(f"messages: {n}")
    print(f"{'measure':<44}{'per second':>12}{'ratio':>8}")
    print(f"{'raw confluent-kafka producer (baseline)':<44}{raw_produce:>12,.0f}{1:>8.2f}")
    print(f"{'outbox relay (PostgreSQL -> Kafka)':<44}{relay:>12,.0f}{relay / raw_produce:>8.2f}")
    print(f"{'raw consume + commit (baseline)':<44}{raw_consume:>12,.0f}{1:>8.2f}")
    for label, (handled, statements) in (
        ("handler+inbox+outbox, no-op, 1 transaction", one_tx),
        ("same, with the check before work (2 tx)", two_tx),
    ):
        print(
            f"{label:<44}{handled:>12,.0f}{handled / raw_consume:>8.3f}"
            f"   {statements:.2f} SQL statements/message"
        )


if __name__ == "__main__":
    main()
