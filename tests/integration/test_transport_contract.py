"""One contract, two transports: the embedded in-process broker and Kafka (a real broker).

Whatever carries the messages, a handler sees every message of a key in publish order, a RETRY
is delivered again with the next attempt number, and a dead-lettered message does not block the
ones behind it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import pytest

from tests.kafka_broker import TansuBroker
from vidigest.config import Settings
from vidigest.messaging.embedded import EmbeddedBroker
from vidigest.messaging.transport import HandleResult, Message, Outcome

Handler = Callable[[Message, int], HandleResult]
Seen = list[tuple[str, int]]  # (message value, attempt)


class Harness(Protocol):
    topic: str

    def run(self, messages: Sequence[Message], handler: Handler, until: Callable[[], bool]) -> None:
        """Publish `messages`, consume them with `handler` until `until()` is true."""


class EmbeddedHarness:
    topic = "contract"

    def run(self, messages: Sequence[Message], handler: Handler, until: Callable[[], bool]) -> None:
        broker = EmbeddedBroker(retry_backoff_seconds=0.01)
        broker.subscribe(self.topic, "contract-consumer", handler)
        broker.publish(messages)
        broker.drain()
        assert until()


class KafkaHarness:
    def __init__(self, broker: TansuBroker, topic: str) -> None:
        from vidigest.providers.kafka.admin import create_topics

        self.topic = topic
        self.settings = Settings(
            kafka_bootstrap=broker.bootstrap,
            session_timeout_ms=2000,
            max_poll_interval_ms=10_000,
            retry_backoff_seconds=0.05,
            max_attempts=3,
        )
        create_topics(self.settings, [topic, f"{topic}.dlq"], partitions=3, replication=1)

    def run(self, messages: Sequence[Message], handler: Handler, until: Callable[[], bool]) -> None:
        from vidigest.providers.kafka.consumer import KafkaWorker
        from vidigest.providers.kafka.producer import KafkaPublisher

        publisher = KafkaPublisher(self.settings)
        publisher.publish(messages)
        publisher.close()
        stop = threading.Event()
        worker = KafkaWorker(
            self.settings, [self.topic], handler, f"{self.topic}.dlq", group_id=f"{self.topic}-g"
        )
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        deadline = time.monotonic() + 60
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        thread.join(30)
        assert until(), "the consumer did not see every expected delivery in 60 s"


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
