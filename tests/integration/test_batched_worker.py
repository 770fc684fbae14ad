"""A batched cheap step on Kafka and PostgreSQL: the KafkaWorker hands it several messages of one
partition at once; the order of a partition holds, a poison message is dead-lettered without
its neighbours, and a crash between the database commit and the offset commit redelivers the
batch without a second effect."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from tests.support.factories import (
    SequenceStep,
    committed_seqs,
    count,
    message_handler,
    sequence_messages,
)
from tests.support.kafka_broker import TansuBroker
from vidigest.config import Settings
from vidigest.database.session import Database
from vidigest.messaging.handler import MessageHandler
from vidigest.messaging.models import DeadLetter, ProcessedMessage
from vidigest.messaging.transport import HandleResult, Message, Outcome
from vidigest.providers.kafka.admin import create_topics
from vidigest.providers.kafka.consumer import KafkaWorker
from vidigest.providers.kafka.producer import KafkaPublisher

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

KEYS = ["video-a", "video-b", "video-c", "video-d", "video-e"]
PER_KEY = 40


def settings_for(broker: TansuBroker) -> Settings:
    return Settings(
        kafka_bootstrap=broker.bootstrap,
        session_timeout_ms=2000,
        max_poll_interval_ms=10_000,
        max_attempts=3,
        retry_backoff_seconds=0.02,
    )


class Traced:
    """The handler, noting every result and the size of every batch it was handed."""

    def __init__(self, handler: MessageHandler[int]) -> None:
        self.handler = handler
        self.results: list[Outcome] = []
        self.batches: list[int] = []
        self.lock = threading.Lock()

    @property
    def batch_size(self) -> int:
        return self.handler.batch_size

    def __call__(self, message: Message, attempt: int) -> HandleResult:
        result = self.handler(message, attempt)
        with self.lock:
            self.results.append(result.outcome)
        return result

    def handle_batch(self, messages: Sequence[Message]) -> list[HandleResult]:
        results = self.handler.handle_batch(messages)
        with self.lock:
            self.batches.append(len(messages))
            self.results.extend(result.outcome for result in results)
        return results


def run_worker(
    settings: Settings, topic: str, handle: Traced, until: Callable[[], bool], group: str
) -> None:
    stop = threading.Event()
    worker = KafkaWorker(
        settings, [topic], handle, f"{topic}.dlq", group_id=group, shutdown_grace_seconds=0.5
    )
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 60
    while not until() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(30)
    assert until(), "the worker did not get that far in 60 s"


def publish_interleaved(settings: Settings, topic: str) -> dict[str, list[Message]]:
    """PER_KEY messages of each key, the keys interleaved (seq i of every key, then i + 1)."""
    by_key = {key: sequence_messages(key, range(PER_KEY), topic) for key in KEYS}
    publisher = KafkaPublisher(settings)
    try:
        publisher.publish([by_key[key][i] for i in range(PER_KEY) for key in KEYS])
    finally:
        publisher.close()
    return by_key


def dead_letter_values(settings: Settings, dlq: str, expected: int) -> list[bytes]:
    reader = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{dlq}-reader",
            "enable.auto.commit": False,
        }
    )
    reader.assign([TopicPartition(dlq, p, OFFSET_BEGINNING) for p in range(3)])
    found: list[bytes] = []
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            if len(found) >= expected:
                deadline = min(deadline, time.monotonic() + 0.5)
            raw = reader.poll(0.2)
            if raw is not None and not raw.error():
                found.append(raw.value() or b"")
    finally:
        reader.close()
    return found


def test_batches_keep_each_partitions_order_and_dead_letter_only_the_poison(
    postgres_db: Database, kafka_broker: TansuBroker, unique_topic: Callable[[str], str]
) -> None:
    """Five videos' messages over three partitions, batches of up to 16 of one partition: seq
    7 of every video fails for good (dead-lettered in its batch), seq 20 fails twice before it
    passes (it leaves its batch and goes alone). Each video's effects are committed in seq
    order, each once; only the poison reaches the dead-letter topic."""
    settings = settings_for(kafka_broker)
    topic = unique_topic("batched")
    create_topics(settings, [topic, f"{topic}.dlq"], partitions=3)
    sent = publish_interleaved(settings, topic)
    step = SequenceStep(batch_size=16, poison={7}, flaky={20: 2})
    handle = Traced(message_handler(step, postgres_db.session_factory, max_attempts=3))
    total = len(KEYS) * PER_KEY

    run_worker(settings, topic, handle, lambda: len(handle.results) >= total, f"{topic}-g")

    expected = [seq for seq in range(PER_KEY) if seq != 7]
    assert committed_seqs(postgres_db) == {key: expected for key in KEYS}
    assert max(handle.batches) > 1, handle.batches  # it did batch
    assert handle.results.count(Outcome.DEAD_LETTERED) == len(KEYS)
    assert count(postgres_db, ProcessedMessage, outcome="processed") == len(KEYS) * (PER_KEY - 1)
    assert count(postgres_db, DeadLetter) == len(KEYS)
    letters = dead_letter_values(settings, f"{topic}.dlq", len(KEYS))
    assert sorted(letters) == sorted(sent[key][7].value for key in KEYS)


class CrashesAfterCommit(Traced):
    """The first batch of `after` messages or more commits in the database, then the worker
    never gets to store its offsets: the handler thread hangs (as if the process had been
    killed there) until the test lets it go, and the worker is stopped meanwhile."""

    def __init__(self, handler: MessageHandler[int], after: int) -> None:
        super().__init__(handler)
        self.after = after
        self.crashed = threading.Event()
        self.release = threading.Event()
        self.crashed_batch: list[Message] = []

    def handle_batch(self, messages: Sequence[Message]) -> list[HandleResult]:
        results = super().handle_batch(messages)
        if not self.crashed.is_set() and len(self.results) >= self.after and len(messages) > 1:
            self.crashed_batch = list(messages)
            self.crashed.set()
            self.release.wait(30)
        return results


def test_a_crash_between_the_database_commit_and_the_offset_commit_redelivers_once(
    postgres_db: Database, kafka_broker: TansuBroker, unique_topic: Callable[[str], str]
) -> None:
    settings = settings_for(kafka_broker)
    topic = unique_topic("crash")
    create_topics(settings, [topic, f"{topic}.dlq"], partitions=3)
    publish_interleaved(settings, topic)
    total = len(KEYS) * PER_KEY
    group = f"{topic}-g"

    first = CrashesAfterCommit(
        message_handler(SequenceStep(batch_size=16), postgres_db.session_factory), after=30
    )
    try:
        run_worker(settings, topic, first, first.crashed.is_set, group)
    finally:
        first.release.set()
    crashed_ids = {m.headers["event_id"] for m in first.crashed_batch}
    assert len(crashed_ids) > 1
    done_before = count(postgres_db, ProcessedMessage)  # the crashed batch included

    second = Traced(message_handler(SequenceStep(batch_size=16), postgres_db.session_factory))
    redelivered = total - done_before  # at least these; the crashed batch comes again too
    run_worker(
        settings,
        topic,
        second,
        lambda: second.results.count(Outcome.PROCESSED) >= redelivered,
        group,
    )

    assert second.results.count(Outcome.DUPLICATE) >= len(crashed_ids)  # it came again
    seqs = committed_seqs(postgres_db)
    assert seqs == {key: list(range(PER_KEY)) for key in KEYS}  # each effect once, in order
    assert count(postgres_db, ProcessedMessage) == total
