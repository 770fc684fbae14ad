"""One contract, two transports: the embedded in-process broker and Kafka (a real broker).

Whatever carries the messages, a handler sees every message of a key in publish order, a RETRY
is delivered again with the next attempt number, and a dead-lettered message does not block the
ones behind it. Both transports follow one `DeliveryPolicy` (here: 3 attempts): a handler that
raises, or asks for a retry at its final attempt, is dead-lettered by the transport (the
embedded broker's dead-letter sink, Kafka's dead-letter topic) and the next message follows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import pytest

from tests.kafka_broker import TansuBroker
from vidigest.common.constants import HEADER_ERROR
from vidigest.config import Settings
from vidigest.messaging.delivery import DeliveryPolicy
from vidigest.messaging.embedded import EmbeddedBroker
from vidigest.messaging.transport import HandleResult, Message, Outcome

Handler = Callable[[Message, int], HandleResult]
Seen = list[tuple[str, int]]  # (message value, attempt)

MAX_ATTEMPTS = 3


def contract_settings(**values: Any) -> Settings:
    return Settings(max_attempts=MAX_ATTEMPTS, retry_backoff_seconds=0.02, **values)


class Harness(Protocol):
    topic: str

    def run(self, messages: Sequence[Message], handler: Handler, until: Callable[[], bool]) -> None:
        """Publish `messages`, consume them with `handler` until `until()` is true."""

    def dead_lettered(self, count: int) -> list[tuple[str, str]]:
        """(value, error) of every message the transport dead-lettered; call it after `run`,
        with `count` the number expected (a real broker is read until that many arrived)."""


class EmbeddedHarness:
    topic = "contract"

    def __init__(self) -> None:
        self._dead: list[tuple[str, str]] = []

    def run(self, messages: Sequence[Message], handler: Handler, until: Callable[[], bool]) -> None:
        by_handler: set[bytes] = set()  # dead-lettered (and recorded) by the handler itself
        kept: dict[str, str] = {}  # what the broker's dead-letter sink received

        def traced(message: Message, attempt: int) -> HandleResult:
            result = handler(message, attempt)
            if result.outcome is Outcome.DEAD_LETTERED:
                by_handler.add(message.value)
            return result

        def sink(subscriber: str, message: Message, error: str, attempts: int) -> None:
            assert (subscriber, attempts) == ("contract-consumer", MAX_ATTEMPTS)
            kept[message.value.decode()] = error

        policy = DeliveryPolicy.from_settings(contract_settings())
        broker = EmbeddedBroker(policy, dead_letter=sink, sleep=lambda _seconds: None)
        broker.subscribe(self.topic, "contract-consumer", traced)
        broker.publish(messages)
        deliveries = broker.drain()
        assert until()
        for delivery in deliveries:
            if delivery.result.outcome is Outcome.DEAD_LETTERED:
                value, error = delivery.message.value.decode(), delivery.result.error or ""
                if delivery.message.value not in by_handler:  # given up on: the sink keeps it
                    assert kept.pop(value) == error
                self._dead.append((value, error))
        assert not kept, f"dead-lettered but delivered as done: {kept}"

    def dead_lettered(self, count: int) -> list[tuple[str, str]]:
        return list(self._dead)


class KafkaHarness:
    def __init__(self, broker: TansuBroker, topic: str) -> None:
        from vidigest.providers.kafka.admin import create_topics

        self.topic = topic
        self.dlq = f"{topic}.dlq"
        self.settings = contract_settings(
            kafka_bootstrap=broker.bootstrap, session_timeout_ms=2000, max_poll_interval_ms=10_000
        )
        create_topics(self.settings, [topic, self.dlq], partitions=3, replication=1)

    def run(self, messages: Sequence[Message], handler: Handler, until: Callable[[], bool]) -> None:
        from vidigest.providers.kafka.consumer import KafkaWorker
        from vidigest.providers.kafka.producer import KafkaPublisher

        publisher = KafkaPublisher(self.settings)
        publisher.publish(messages)
        publisher.close()
        stop = threading.Event()
        worker = KafkaWorker(
            self.settings, [self.topic], handler, self.dlq, group_id=f"{self.topic}-g"
        )
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        deadline = time.monotonic() + 60
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        thread.join(30)
        assert until(), "the consumer did not see every expected delivery in 60 s"

    def dead_lettered(self, count: int) -> list[tuple[str, str]]:
        """Read the dead-letter topic from the start (assigned, no group join). The worker
        copies a message there before it moves on, so it is there once `until()` held."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        reader = Consumer(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap,
                "group.id": f"{self.dlq}-reader",
                "enable.auto.commit": False,
            }
        )
        reader.assign([TopicPartition(self.dlq, p, OFFSET_BEGINNING) for p in range(3)])
        found: list[tuple[str, str]] = []
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                if len(found) == count:  # then a last look for any unexpected extra
                    deadline = min(deadline, time.monotonic() + 0.5)
                raw = reader.poll(0.2)
                if raw is None or raw.error():
                    continue
                headers = {k: (v or b"").decode() for k, v in raw.headers() or []}
                found.append(((raw.value() or b"").decode(), headers[HEADER_ERROR]))
        finally:
            reader.close()
        return found


@pytest.fixture(params=["embedded", "kafka"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "embedded":
        yield EmbeddedHarness()
        return
    broker: TansuBroker = request.getfixturevalue("kafka_broker")
    make_topic: Callable[[str], str] = request.getfixturevalue("unique_topic")
    yield KafkaHarness(broker, make_topic("contract"))


def messages(topic: str, keys: Sequence[str], per_key: int) -> list[Message]:
    return [
        Message(
            topic=topic, key=key, value=f"{key}:{i}".encode(), headers={"event_id": f"{key}-{i}"}
        )
        for i in range(per_key)
        for key in keys
    ]


def recorder(decide: Callable[[Message, int], Outcome] | None = None) -> tuple[Handler, Seen]:
    seen: Seen = []
    lock = threading.Lock()

    def handle(message: Message, attempt: int) -> HandleResult:
        with lock:
            seen.append((message.value.decode(), attempt))
        outcome = decide(message, attempt) if decide else Outcome.PROCESSED
        return HandleResult(outcome, error=None if outcome is Outcome.PROCESSED else "test")

    return handle, seen


pytestmark = pytest.mark.integration


def test_every_message_once_in_order_per_key(harness: Harness) -> None:
    keys = ["video-a", "video-b", "video-c", "video-d"]
    sent = messages(harness.topic, keys, per_key=10)
    handler, seen = recorder()
    harness.run(sent, handler, until=lambda: len(seen) >= len(sent))
    values = [v for v, _ in seen]
    assert sorted(values) == sorted(m.value.decode() for m in sent)  # all, none twice
    for key in keys:
        mine = [int(v.split(":")[1]) for v in values if v.startswith(key + ":")]
        assert mine == list(range(10)), f"{key} out of order: {mine}"


def test_retry_is_redelivered_with_the_next_attempt(harness: Harness) -> None:
    sent = messages(harness.topic, ["k"], per_key=3)

    def decide(message: Message, attempt: int) -> Outcome:
        return Outcome.RETRY if message.value == b"k:1" and attempt < 3 else Outcome.PROCESSED

    handler, seen = recorder(decide)
    harness.run(sent, handler, until=lambda: ("k:2", 1) in seen)
    assert seen == [("k:0", 1), ("k:1", 1), ("k:1", 2), ("k:1", 3), ("k:2", 1)]


def test_dead_lettered_message_does_not_block_the_next(harness: Harness) -> None:
    sent = messages(harness.topic, ["k"], per_key=3)

    def decide(message: Message, attempt: int) -> Outcome:
        return Outcome.DEAD_LETTERED if message.value == b"k:0" else Outcome.PROCESSED

    handler, seen = recorder(decide)
    harness.run(sent, handler, until=lambda: ("k:2", 1) in seen)
    assert seen == [("k:0", 1), ("k:1", 1), ("k:2", 1)]
    assert harness.dead_lettered(1) == [("k:0", "test")]


def test_key_and_headers_arrive_unchanged(harness: Harness) -> None:
    sent = [
        Message(
            topic=harness.topic,
            key="video-1",
            value=b"{}",
            headers={"event_id": "e-1", "event_type": "x"},
        )
    ]
    received: list[Message] = []

    def handle(message: Message, attempt: int) -> HandleResult:
        received.append(message)
        return HandleResult(Outcome.PROCESSED)

    harness.run(sent, handle, until=lambda: bool(received))
    (message,) = received
    assert (message.key, message.value) == ("video-1", b"{}")
    assert {k: message.headers[k] for k in ("event_id", "event_type")} == {
        "event_id": "e-1",
        "event_type": "x",
    }


def test_an_outage_retry_keeps_the_attempt_number(harness: Harness) -> None:
    sent = messages(harness.topic, ["k"], per_key=2)
    outage = {"left": 3}

    def handle(message: Message, attempt: int) -> HandleResult:
        seen.append((message.value.decode(), attempt))
        if message.value == b"k:0" and outage["left"]:
            outage["left"] -= 1
            return HandleResult(Outcome.RETRY, error="database down", transient=True)
        return HandleResult(Outcome.PROCESSED)

    seen: Seen = []
    harness.run(sent, handle, until=lambda: ("k:1", 1) in seen)
    assert seen == [("k:0", 1)] * 4 + [("k:1", 1)]


def test_a_handler_that_raises_is_retried_then_dead_lettered(harness: Harness) -> None:
    """The exception never escapes the transport (the embedded `drain()` returns) and the
    message is not left for the next process start: it is retried up to the maximum, then
    dead-lettered with the exception as its error, and the next message follows."""
    sent = messages(harness.topic, ["k"], per_key=2)
    seen: Seen = []

    def handle(message: Message, attempt: int) -> HandleResult:
        seen.append((message.value.decode(), attempt))
        if message.value == b"k:0":
            raise RuntimeError("handler bug")
        return HandleResult(Outcome.PROCESSED)

    harness.run(sent, handle, until=lambda: ("k:1", 1) in seen)
    assert seen == [("k:0", 1), ("k:0", 2), ("k:0", 3), ("k:1", 1)]
    assert harness.dead_lettered(1) == [("k:0", "RuntimeError: handler bug")]


def test_retry_at_the_final_attempt_is_dead_lettered(harness: Harness) -> None:
    """A handler that keeps asking for a retry (not an outage) gets `max_attempts` calls, then
    the transport dead-letters the message instead of retrying it forever."""
    sent = messages(harness.topic, ["k"], per_key=2)

    def decide(message: Message, attempt: int) -> Outcome:
        return Outcome.RETRY if message.value == b"k:0" else Outcome.PROCESSED

    handler, seen = recorder(decide)
    harness.run(sent, handler, until=lambda: ("k:1", 1) in seen)
    assert seen == [("k:0", 1), ("k:0", 2), ("k:0", 3), ("k:1", 1)]
    assert harness.dead_lettered(1) == [("k:0", "test")]
