"""The Kafka provider (admin, publisher, worker loop) against a real tansu broker.

Assertions use committed offsets and what the handlers saw, never high watermarks or `latest`:
tansu reports the high watermark wrong.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client import REGISTRY

from tests.support.kafka_broker import TansuBroker, free_port
from vidigest.common.constants import HEADER_ERROR, HEADER_EVENT_ID, HEADER_SOURCE_TOPIC
from vidigest.config import Settings
from vidigest.messaging.transport import HandleResult, Message, Outcome
from vidigest.providers.kafka.admin import TopicCreationError, broker_reachable, create_topics
from vidigest.providers.kafka.consumer import KafkaWorker, to_transport_message
from vidigest.providers.kafka.dead_letter import HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION
from vidigest.providers.kafka.producer import KafkaPublisher, PublishError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

PROCESSED = HandleResult(Outcome.PROCESSED)
Handler = Callable[[Message, int], HandleResult]


def make_settings(broker: TansuBroker, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka_bootstrap": broker.bootstrap,
        "session_timeout_ms": 2000,  # tansu: a group join takes about half of it
        "max_poll_interval_ms": 10_000,
        "max_attempts": 3,
        "retry_backoff_seconds": 0.05,
        "retry_backoff_max_seconds": 1.0,
    }
    values.update(overrides)
    return Settings(**values)


def publish(settings: Settings, topic: str, items: list[tuple[str | None, bytes]]) -> None:
    publisher = KafkaPublisher(settings)
    try:
        publisher.publish(
            [
                Message(topic, key, value, {HEADER_EVENT_ID: f"e{i}"})
                for i, (key, value) in enumerate(items)
            ]
        )
    finally:
        publisher.close()


def read_all(settings: Settings, topic: str, partitions: int, count: int) -> list[Any]:
    """Every message of `topic` from the earliest offset (assign, no group join), in order."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": "reader",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out: list[Any] = []
    deadline = time.monotonic() + 20
    try:
        while len(out) < count and time.monotonic() < deadline:
            raw = consumer.poll(0.2)
            if raw is not None and not raw.error():
                out.append(raw)
        # Nothing beyond `count`: wait a little for strays.
        extra = consumer.poll(0.5)
        if extra is not None and not extra.error():
            out.append(extra)
    finally:
        consumer.close()
    return out


def committed(settings: Settings, group: str, topic: str, partitions: int) -> dict[int, int]:
    """Committed offset per partition minus the partition's earliest offset (= messages done)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group})
    try:
        offsets = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10
        )
        result = {}
        for tp in offsets:
            low, _high = consumer.get_watermark_offsets(tp, timeout=10)  # only `low` is trusted
            result[tp.partition] = max(tp.offset, low) - low if tp.offset >= 0 else 0
        return result
    finally:
        consumer.close()


@contextmanager
def running(worker: KafkaWorker) -> Iterator[threading.Event]:
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            worker.run(stop)
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)

    thread = threading.Thread(target=target, name=f"run-{worker.name}", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "worker did not stop"
    if errors:
        raise errors[0]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def counter(worker: str, outcome: Outcome) -> float:
    value = REGISTRY.get_sample_value(
        "vidigest_messages_total", {"worker": worker, "outcome": outcome.value}
    )
    return value or 0.0


# --- admin ---


def test_create_topics_is_idempotent(
    kafka_broker: TansuBroker, unique_topic: Callable[[str], str]
) -> None:
    settings = make_settings(kafka_broker)
    a, b, c = unique_topic("a"), unique_topic("b"), unique_topic("c")

    assert sorted(create_topics(settings, [a, b], partitions=3, replication=1)) == sorted([a, b])
    assert create_topics(settings, [a, b, c], partitions=3, replication=1) == [c]
    assert create_topics(settings, [a, b, c], partitions=3, replication=1) == []

    metadata = AdminClient({"bootstrap.servers": kafka_broker.bootstrap}).list_topics(timeout=10)
    for name in (a, b, c):
        assert len(metadata.topics[name].partitions) == 3
    assert broker_reachable(settings, timeout=5)


def test_admin_errors_on_unreachable_broker(kafka_broker: TansuBroker) -> None:
    dead = make_settings(kafka_broker, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    started = time.monotonic()
    assert not broker_reachable(dead, timeout=1)
    assert time.monotonic() - started < 5
    with pytest.raises(TopicCreationError):
        create_topics(dead, ["never"], partitions=1, replication=1, timeout=1)


# --- publisher ---


def test_publisher_keeps_order_per_key_and_headers(
    kafka_broker: TansuBroker, unique_topic: Callable[[str], str]
) -> None:
    settings = make_settings(kafka_broker)
    topic = unique_topic("events")
    create_topics(settings, [topic], partitions=3, replication=1)
    keys = [f"video-{k}" for k in range(6)]
    sent = [
        Message(
            topic,
            keys[i % len(keys)],
            f"{keys[i % len(keys)]}:{i}".encode(),
            {HEADER_EVENT_ID: f"evt-{i}", "event_type": "video.registered", "note": "café ✓"},
        )
        for i in range(120)
    ]
    publisher = KafkaPublisher(settings)
    try:
        publisher.publish(sent[:60])
        publisher.publish(sent[60:])
    finally:
        publisher.close()

    received = [to_transport_message(raw) for raw in read_all(settings, topic, 3, len(sent))]
    assert len(received) == len(sent)
    by_key: dict[str | None, list[Message]] = defaultdict(list)
    for message in received:
        by_key[message.key].append(message)
    for key in keys:
        expected = [m for m in sent if m.key == key]
        got = by_key[key]
        assert [m.value for m in got] == [m.value for m in expected], key
        assert [dict(m.headers) for m in got] == [dict(m.headers) for m in expected]
        partitions = {m.origin.split("/")[1] for m in got if m.origin}
        assert len(partitions) == 1, f"{key} spread over {partitions}"
    assert len({m.origin for m in received}) == len(sent)


def test_publisher_raises_when_not_delivered(kafka_broker: TansuBroker) -> None:
    dead = make_settings(kafka_broker, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    publisher = KafkaPublisher(dead, delivery_timeout=1.0)
    try:
        with pytest.raises(PublishError):
            publisher.publish([Message("anything", "k", b"v")])
    finally:
        publisher.close(timeout=0)


# --- worker ---


def test_worker_commits_done_messages_and_restart_resumes_after_last_commit(
    kafka_broker: TansuBroker, unique_topic: Callable[[str], str]
) -> None:
    settings = make_settings(kafka_broker)
    topic, dlq, group = unique_topic("in"), unique_topic("dlq"), unique_topic("group")
    create_topics(settings, [topic, dlq], partitions=1, replication=1)
    publish(settings, topic, [("k", f"m{i}".encode()) for i in range(10)])

    first_seen: list[bytes] = []
    release = threading.Event()

    def first_handler(message: Message, attempt: int) -> HandleResult:
        first_seen.append(message.value)
        if message.value == b"m5":
            # Still working when the worker is told to stop: never finished, never committed.
            release.wait(10)
        return PROCESSED

    first = KafkaWorker(
        settings, [topic], first_handler, dlq, group, name="first", shutdown_grace_seconds=0.3
    )
    with running(first):
        wait_for(lambda: b"m5" in first_seen, 20, "m5 to be in flight")
    release.set()
    assert first_seen == [f"m{i}".encode() for i in range(6)]
    # m0..m4 are done; m5 was abandoned at shutdown.
    assert committed(settings, group, topic, 1) == {0: 5}

    second_seen: list[bytes] = []

    def second_handler(message: Message, attempt: int) -> HandleResult:
        second_seen.append(message.value)
        return PROCESSED

    second = KafkaWorker(settings, [topic], second_handler, dlq, group, name="second")
    with running(second):
        wait_for(lambda: len(second_seen) >= 5, 20, "the rest of the messages")
        time.sleep(0.3)  # nothing more may arrive
    assert second_seen == [f"m{i}".encode() for i in range(5, 10)]
    assert committed(settings, group, topic, 1) == {0: 10}


def test_retry_backs_off_then_succeeds(
    kafka_broker: TansuBroker, unique_topic: Callable[[str], str]
) -> None:
    settings = make_settings(
        kafka_broker, max_attempts=4, retry_backoff_seconds=0.2, retry_backoff_max_seconds=0.3
    )
    topic, dlq, group = unique_topic("in"), unique_topic("dlq"), unique_topic("group")
    create_topics(settings, [topic, dlq], partitions=1, replication=1)
    publish(settings, topic, [("k", b"flaky"), ("k", b"after")])

    calls: list[tuple[bytes, int, float]] = []

    def handler(message: Message, attempt: int) -> HandleResult:
        calls.append((message.value, attempt, time.monotonic()))
        if message.value == b"flaky" and attempt < 4:
            return HandleResult(Outcome.RETRY, "database unavailable")
        return PROCESSED

    worker = KafkaWorker(settings, [topic], handler, dlq, group, name=group)
    with running(worker):
        wait_for(lambda: any(v == b"after" for v, _, _ in calls), 20, "the next message")
    assert [(v, a) for v, a, _ in calls] == [
        (b"flaky", 1),
        (b"flaky", 2),
        (b"flaky", 3),
        (b"flaky", 4),
        (b"after", 1),
    ]
    gaps = [calls[i + 1][2] - calls[i][2] for i in range(3)]
    # 0.2 * 2**(attempt-1), capped at 0.3: 0.2, 0.3, 0.3
    for gap, expected in zip(gaps, [0.2, 0.3, 0.3], strict=True):
        assert expected - 0.02 <= gap < expected + 0.5, gaps
    assert counter(group, Outcome.RETRY) == 3
    assert counter(group, Outcome.PROCESSED) == 2
    assert REGISTRY.get_sample_value("vidigest_handle_seconds_count", {"worker": group}) == 5
    # The lag gauge is exposed; its value comes from tansu's (wrong) high watermark: not checked.
    lag = {"worker": group, "topic": topic, "partition": "0"}
    assert REGISTRY.get_sample_value("vidigest_consumer_lag", lag) is not None
    assert committed(settings, group, topic, 1) == {0: 2}
    assert counter(group, Outcome.DEAD_LETTERED) == 0


def test_dead_letter_then_next_message_on_the_partition_is_processed(
    kafka_broker: TansuBroker, unique_topic: Callable[[str], str]
) -> None:
    settings = make_settings(kafka_broker, max_attempts=2)
    topic, dlq, group = unique_topic("in"), unique_topic("dlq"), unique_topic("group")
    create_topics(settings, [topic, dlq], partitions=1, replication=1)
    publish(settings, topic, [("v1", b"poison"), ("v2", b"crashes"), ("v3", b"good")])

    calls: list[tuple[bytes, int]] = []

    def handler(message: Message, attempt: int) -> HandleResult:
        calls.append((message.value, attempt))
        if message.value == b"poison":
            return HandleResult(Outcome.DEAD_LETTERED, "no audio stream in clip.mp4")
        if message.value == b"crashes":
            raise RuntimeError("unexpected bug")
        return PROCESSED

    worker = KafkaWorker(settings, [topic], handler, dlq, group, name=group)
    with running(worker):
        wait_for(lambda: (b"good", 1) in calls, 20, "the message after the dead letters")
    # The handler decides for itself; a handler that keeps raising is dead-lettered by the
    # loop at the final attempt instead of blocking the partition.
    assert calls == [(b"poison", 1), (b"crashes", 1), (b"crashes", 2), (b"good", 1)]
    assert committed(settings, group, topic, 1) == {0: 3}

    dead = [to_transport_message(raw) for raw in read_all(settings, dlq, 1, 2)]
    assert [(m.key, m.value) for m in dead] == [("v1", b"poison"), ("v2", b"crashes")]
    poison, crashed = dead
    assert poison.headers[HEADER_ERROR] == "no audio stream in clip.mp4"
    assert poison.headers[HEADER_SOURCE_TOPIC] == topic
    assert poison.headers[HEADER_SOURCE_PARTITION] == "0"
    assert poison.headers[HEADER_SOURCE_OFFSET] == "0"
    assert poison.headers[HEADER_EVENT_ID] == "e0"  # original headers kept
    assert crashed.headers[HEADER_ERROR] == "RuntimeError: unexpected bug"
    assert crashed.headers[HEADER_SOURCE_OFFSET] == "1"
    assert crashed.headers[HEADER_EVENT_ID] == "e1"
    assert counter(group, Outcome.DEAD_LETTERED) == 2


def test_handler_slower_than_max_poll_interval_keeps_its_partition(
    kafka_broker: TansuBroker, unique_topic: Callable[[str], str]
) -> None:
    settings = make_settings(kafka_broker, max_poll_interval_ms=6000, session_timeout_ms=2000)
    topic, dlq, group = unique_topic("in"), unique_topic("dlq"), unique_topic("group")
    create_topics(settings, [topic, dlq], partitions=1, replication=1)
    publish(settings, topic, [("k", b"long"), ("k", b"short")])

    calls: list[bytes] = []

    def handler(message: Message, attempt: int) -> HandleResult:
        calls.append(message.value)
        if message.value == b"long":
            time.sleep(10)  # > max.poll.interval.ms
        return PROCESSED

    worker = KafkaWorker(settings, [topic], handler, dlq, group, name=group)
    with running(worker):
        wait_for(lambda: b"short" in calls, 40, "the message after the long one")
        time.sleep(1.0)  # a redelivery of "long" would show up here
        assert worker.assignment() == [(topic, 0)]
    assert calls == [b"long", b"short"]
    assert committed(settings, group, topic, 1) == {0: 2}


def test_two_workers_in_one_group_split_the_partitions(
    kafka_broker: TansuBroker, unique_topic: Callable[[str], str]
) -> None:
    settings = make_settings(kafka_broker)
    topic, dlq, group = unique_topic("in"), unique_topic("dlq"), unique_topic("group")
    partitions = 4
    create_topics(settings, [topic, dlq], partitions=partitions, replication=1)

    seen: dict[str, list[str]] = {"w1": [], "w2": []}
    lock = threading.Lock()

    def handler_for(name: str) -> Handler:
        def handler(message: Message, attempt: int) -> HandleResult:
            with lock:
                seen[name].append(message.origin or "")
            time.sleep(0.01)
            return PROCESSED

        return handler

    w1 = KafkaWorker(settings, [topic], handler_for("w1"), dlq, group, name=f"{group}-w1")
    w2 = KafkaWorker(settings, [topic], handler_for("w2"), dlq, group, name=f"{group}-w2")
    with running(w1), running(w2):

        def split() -> bool:
            a, b = set(w1.assignment()), set(w2.assignment())
            return bool(a) and bool(b) and not a & b and len(a | b) == partitions

        wait_for(split, 30, "both workers to own partitions")
        owner = {p: "w1" for _, p in w1.assignment()} | {p: "w2" for _, p in w2.assignment()}
        publish(settings, topic, [(f"video-{i}", f"m{i}".encode()) for i in range(80)])
        wait_for(lambda: len(seen["w1"]) + len(seen["w2"]) >= 80, 30, "all messages")
        time.sleep(0.3)

    all_origins = seen["w1"] + seen["w2"]
    assert len(all_origins) == 80 and len(set(all_origins)) == 80  # each exactly once
    assert seen["w1"] and seen["w2"]
    for name, origins in seen.items():
        for origin in origins:
            assert owner[int(origin.split("/")[1])] == name, (origin, owner)
    assert sum(committed(settings, group, topic, partitions).values()) == 80


def test_rebalance_while_busy_finishes_in_flight_work_without_duplicates(
    kafka_broker: TansuBroker, unique_topic: Callable[[str], str]
) -> None:
    settings = make_settings(kafka_broker)
    topic, dlq, group = unique_topic("in"), unique_topic("dlq"), unique_topic("group")
    create_topics(settings, [topic, dlq], partitions=2, replication=1)
    seen: dict[str, list[str]] = {"w1": [], "w2": []}
    revoked_while_busy: list[bool] = []
    revoking = threading.Event()
    held: list[str] = []

    def handler_for(name: str) -> Handler:
        def handler(message: Message, attempt: int) -> HandleResult:
            if name == "w1" and not held:
                # w1's first message is still in hand when w2 joins: the revocation comes
                # mid-message (the loop keeps polling while a message is handled)
                held.append(message.origin or "")
                assert revoking.wait(30), "no rebalance came while w1 held its first message"
            # Longer than pause_after (0.5 s): the loop polls, hence rebalances, mid-message.
            time.sleep(0.7)
            seen[name].append(message.origin or "")
            return PROCESSED

        return handler

    w1 = KafkaWorker(settings, [topic], handler_for("w1"), dlq, group, name=f"{group}-w1")
    w2 = KafkaWorker(settings, [topic], handler_for("w2"), dlq, group, name=f"{group}-w2")
    original_revoke = w1._on_revoke

    def spy_revoke(consumer: Any, partitions: list[TopicPartition]) -> None:
        revoked_while_busy.append(w1.busy)
        revoking.set()
        original_revoke(consumer, partitions)

    w1._on_revoke = spy_revoke  # type: ignore[method-assign]
    publish(settings, topic, [(f"video-{i}", f"m{i}".encode()) for i in range(12)])
    with running(w1):
        wait_for(lambda: bool(held), 20, "w1 to be working")
        with running(w2):
            wait_for(lambda: len(seen["w1"]) + len(seen["w2"]) >= 12, 40, "all messages")
            time.sleep(1.0)  # a redelivered message would show up here

    all_origins = seen["w1"] + seen["w2"]
    assert sorted(all_origins) == sorted(set(all_origins)), "a message was handled twice"
    assert len(all_origins) == 12
    assert seen["w2"], "w2 never got a partition"
    assert True in revoked_while_busy, revoked_while_busy
    assert sum(committed(settings, group, topic, 2).values()) == 12
