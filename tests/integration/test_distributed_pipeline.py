"""Distributed mode end to end: worker and relay processes, PostgreSQL and a Kafka broker.

Real speech recognition on short synthetic clips; the assertions are about the event flow:
every video ends COMPLETED (or FAILED with a reason) and every effect exists exactly once.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from sqlalchemy import func, select

from tests.support import media
from tests.support.cluster import Cluster
from tests.support.kafka_broker import unique_name
from vidigest.config import Settings
from vidigest.messaging.models import OutboxEvent
from vidigest.messaging.relay import OutboxRelay
from vidigest.messaging.transport import Message
from vidigest.providers.kafka.producer import KafkaPublisher
from vidigest.workers import PROCESSES

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SENTENCES = [
    "Honey bees collect nectar from flowers and turn it into honey.",
    "A volcano erupts when magma rises through the crust of the earth.",
    "The first bicycles had no pedals and were pushed along by the feet.",
]


@pytest.fixture
def clips(tmp_path: Path) -> list[Path]:
    return [media.speech(tmp_path, sentence) for sentence in SENTENCES]


def all_effects_once(cluster: Cluster, videos: int) -> None:
    assert cluster.count("transcripts") == videos
    assert cluster.count("video_summaries") == videos
    assert cluster.count("processed_messages") == 2 * videos
    for event_type in ("video.registered", "transcription.completed", "summary.completed"):
        assert cluster.count("outbox_events", event_type=event_type) == videos
    for status in ("TRANSCRIBED", "COMPLETED"):
        assert cluster.count("video_status_logs", to_status=status) == videos


def test_videos_complete_once_with_two_workers_sharing_partitions(
    cluster: Cluster, clips: list[Path]
) -> None:
    workers = [cluster.start("worker", "transcription", name=f"asr{i}") for i in (1, 2)]
    summary = cluster.start("worker", "summary")
    cluster.start("worker", "relay")
    cluster.wait_until(
        lambda: all("assigned" in w.log_text() for w in workers), 60, "both workers assigned"
    )
    video_ids = [cluster.submit(clip) for clip in clips]
    cluster.wait_terminal(video_ids)
    assert set(cluster.statuses().values()) == {"COMPLETED"}
    all_effects_once(cluster, len(clips))

    # each of the two workers in the group owns its own share of the 4 partitions
    owned = [w.log_text().split("assigned")[-1].splitlines()[0] for w in workers]
    assert all(o.strip() and o.strip() != "[]" for o in owned), owned

    # a duplicate of every message (the whole outbox published again) changes nothing
    with cluster.database.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE outbox_events SET published_at = NULL")
    cluster.wait_until(
        lambda: (
            sum(w.metric("vidigest_messages_total", outcome="duplicate") for w in workers)
            >= len(clips)
            and summary.metric("vidigest_messages_total", outcome="duplicate") >= len(clips)
        ),
        60,
        "the duplicates to be consumed",
    )
    all_effects_once(cluster, len(clips))


def test_worker_killed_mid_transcription_completes_once(cluster: Cluster) -> None:
    talk = Path(__file__).parents[2] / "samples" / "three_topics_talk.mp4"  # ~10 s of ASR
    first = cluster.start("worker", "transcription", name="asr-doomed")
    cluster.start("worker", "summary")
    cluster.start("worker", "relay")
    video_id = cluster.submit(talk)
    cluster.wait_until(lambda: cluster.status(video_id) == "TRANSCRIBING", 60, "TRANSCRIBING")
    time.sleep(2)
    cluster.stop(first, signal.SIGKILL)
    assert cluster.status(video_id) == "TRANSCRIBING"  # killed with the work half done
    cluster.start("worker", "transcription", name="asr-replacement")
    cluster.wait_terminal([video_id], timeout=240)
    assert cluster.status(video_id) == "COMPLETED"
    all_effects_once(cluster, 1)
    # the redelivery resumed the stage: TRANSCRIBING -> TRANSCRIBING is allowed and not logged
    # twice, so the history reads as one transcription (COMPLETED above proves the redelivery)
    assert cluster.count("video_status_logs", to_status="TRANSCRIBING") == 1


def test_poison_message_is_dead_lettered_and_the_next_is_processed(
    cluster: Cluster, clips: list[Path]
) -> None:
    video_id = cluster.submit(clips[0])  # its event waits in the outbox: no relay yet
    poison = b'{"event_type": "video.registered", "payload": "not an object"'
    producer = Producer({"bootstrap.servers": cluster.bootstrap})
    producer.produce(cluster.topic("video.registered"), key=video_id, value=poison)
    producer.flush(10)
    cluster.start("worker", "relay")  # the real event lands behind the poison, same partition
    cluster.start("worker", "transcription")
    cluster.start("worker", "summary")
    cluster.wait_terminal([video_id])
    assert cluster.status(video_id) == "COMPLETED"
    assert cluster.count("dead_letters", consumer="transcription-worker") == 1

    consumer = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "group.id": unique_name("dlq-reader"),
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([cluster.topic("vidigest.dead-letter")])
    letters = []
    deadline = time.monotonic() + 30
    while not letters and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            letters.append(message)
    consumer.close()
    (letter,) = letters
    headers = {k: v.decode() for k, v in letter.headers() or []}
    assert letter.value() == poison
    assert headers["error"].startswith("message is not valid JSON")
    assert headers["source_topic"] == cluster.topic("video.registered")


class CrashAfterPublish:
    """A relay whose process dies right after the broker acknowledged the batch, before the
    transaction that marks the rows published commits."""

    def __init__(self, publisher: KafkaPublisher) -> None:
        self.publisher = publisher

    def publish(self, messages: list[Message]) -> None:
        self.publisher.publish(messages)
        raise SystemExit("relay killed between publish and mark")


def test_relay_crash_between_publish_and_mark_loses_nothing(
    cluster: Cluster, clips: list[Path]
) -> None:
    video_ids = [cluster.submit(clip) for clip in clips]
    settings = Settings(kafka_bootstrap=cluster.bootstrap, topic_prefix=f"{cluster.prefix}.")
    publisher = KafkaPublisher(settings)
    doomed = OutboxRelay(
        cluster.database.session_factory,
        CrashAfterPublish(publisher),
        topic_prefix=settings.topic_prefix,
    )
    with pytest.raises(SystemExit):
        doomed.publish_batch()
    publisher.close()
    with cluster.database.session() as session:
        pending = session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
        )
    assert pending == len(clips)  # published, but not marked: they will go out again

    asr = cluster.start("worker", "transcription")
    cluster.start("worker", "summary")
    cluster.start("worker", "relay")
    cluster.wait_terminal(video_ids)
    assert set(cluster.statuses().values()) == {"COMPLETED"}
    all_effects_once(cluster, len(clips))
    cluster.wait_until(
        lambda: asr.metric("vidigest_messages_total", outcome="duplicate") >= len(clips),
        30,
        "the re-published copies to be deduplicated",
    )


def child_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


def child_command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def gone(pid: int) -> bool:
    """Exited (a zombie nobody reaped yet counts as exited)."""
    try:
        return "zombie" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


def test_run_all_restarts_a_dead_child_and_stops_cleanly(
    cluster: Cluster, clips: list[Path]
) -> None:
    supervisor = cluster.start("run-all", "--grace", "20", name="run-all", metrics=False)
    every = len(PROCESSES)  # one process per stage, the relay, the webhook dispatcher
    cluster.wait_until(
        lambda: len(child_pids(supervisor.popen.pid)) == every, 30, f"{every} children"
    )
    (relay_pid,) = [p for p in child_pids(supervisor.popen.pid) if "relay" in child_command(p)]
    os.kill(relay_pid, signal.SIGKILL)
    cluster.wait_until(
        lambda: supervisor.log_text().count("started relay-1") == 2, 30, "the relay restarted"
    )
    video_id = cluster.submit(clips[1])  # needs the restarted relay to get anywhere
    cluster.wait_terminal([video_id])
    assert cluster.status(video_id) == "COMPLETED"
    children = child_pids(supervisor.popen.pid)
    assert cluster.stop(supervisor, signal.SIGTERM, timeout=60) == 0
    assert all(gone(pid) for pid in children)  # every child is gone too


def test_run_all_killed_hard_leaves_no_orphan_workers(cluster: Cluster) -> None:
    """SIGKILL (or the OOM killer) gives the supervisor no chance to stop its children; they
    must notice and stop by themselves rather than work on unsupervised."""
    supervisor = cluster.start("run-all", name="run-all", metrics=False)
    every = len(PROCESSES)
    cluster.wait_until(
        lambda: len(child_pids(supervisor.popen.pid)) == every, 30, f"{every} children"
    )
    children = child_pids(supervisor.popen.pid)
    supervisor.popen.kill()  # the supervisor only: its children share its process group
    supervisor.popen.wait(10)
    cluster.wait_until(lambda: all(gone(pid) for pid in children), 60, "the children to exit")
