"""The infrastructure restarts while videos are in flight; the workers and the relay reconnect
by themselves and nothing is lost or done twice.

* The Kafka-protocol broker (tansu) restarts on the same port. It keeps its topics, records and
  committed offsets in S3 (a local `moto_server`), so what it had accepted is still there.
* PostgreSQL restarts (a private server: restarting the shared one would break every other
  test running at that moment). Open connections are cut; the pools reconnect.

Each outage lasts until the processes have noticed it (their logs or metrics say so) and the
transcription that was running has run into it; never a guessed time. A negative control: with
memory storage instead of S3 the broker test fails (the queued videos never complete).
Afterwards: every video COMPLETED, one transcript, one summary and one outbox event of each type
per video, two processed_messages rows per video, no dead letter anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support import media
from tests.support.cluster import Cluster, Proc
from tests.support.kafka_broker import TansuBroker, unique_name
from tests.support.postgres_server import PostgresServer
from tests.support.s3_server import S3Server
from vidigest.database.migrate import upgrade
from vidigest.database.session import Database
from vidigest.messaging.models import OutboxEvent
from vidigest.modules.videos.service import VideoService

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SENTENCES = [
    "Honey bees collect nectar from flowers and turn it into honey.",
    "A volcano erupts when magma rises through the crust of the earth.",
    "The first bicycles had no pedals and were pushed along by the feet.",
    "Octopuses have three hearts and blue blood in their bodies.",
]
EVENT_TYPES = ("video.registered", "transcription.completed", "summary.completed")
# What the processes log when they lose the broker (librdkafka's error callback, see
# providers/kafka) and when they lose the database (the relay's and handler's retry lines).
KAFKA_DOWN = re.compile(r"kafka(?: producer)?: .*(?:Connection refused|Disconnected|brokers down)")
DB_DOWN = re.compile(r"relay: publish failed|will retry: OperationalError")


@pytest.fixture
def clips(tmp_path: Path) -> list[Path]:
    return [media.speech(tmp_path, sentence) for sentence in SENTENCES]


def deploy(database_url: str, bootstrap: str, work_dir: Path) -> Cluster:
    cluster = Cluster(database_url, bootstrap, work_dir, unique_name("vd"))
    result = cluster.cli("topics", "create")
    assert result.returncode == 0, result.stderr
    return cluster


def start_pipeline(cluster: Cluster) -> list[Proc]:
    procs = [
        cluster.start("worker", "transcription", name="asr"),
        cluster.start("worker", "summary", name="summary"),
        cluster.start("worker", "relay", name="relay"),
    ]
    cluster.wait_until(
        lambda: all("assigned" in p.log_text() for p in procs[:2]), 90, "both workers assigned"
    )
    return procs


def register(cluster: Cluster, clips: list[Path]) -> list[str]:
    """Register every clip where it is, in this process (faster than a `submit` each), before
    the workers start: they then find several videos waiting, and the restart below catches
    one of them mid-transcription with the others still queued."""
    with cluster.database.session() as session:
        service = VideoService(session)
        return [
            service.register(media_path=clip, source_type="path", source_uri=str(clip)).id
            for clip in clips
        ]


def wait_in_flight(cluster: Cluster, video_ids: list[str]) -> None:
    """Until a transcription runs while at least two videos wait for theirs: their
    `video.registered` events are published, in the broker, not consumed yet."""

    def in_flight() -> bool:
        statuses = [cluster.statuses().get(v) for v in video_ids]
        waiting = statuses.count("REGISTERED")
        return "TRANSCRIBING" in statuses and waiting >= 2 and published(cluster) >= len(video_ids)

    cluster.wait_until(in_flight, 120, "a transcription in flight, two more videos queued")


def published(cluster: Cluster) -> int:
    with cluster.database.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.published_at.is_not(None))
            )
            or 0
        )


def noticed(procs: list[Proc], pattern: re.Pattern[str]) -> Callable[[], bool]:
    """A condition: every process logged `pattern` more often than it had by now."""
    before = {id(p): len(pattern.findall(p.log_text())) for p in procs}
    return lambda: all(len(pattern.findall(p.log_text())) > before[id(p)] for p in procs)


def assert_everything_once(cluster: Cluster, video_ids: list[str], procs: list[Proc]) -> None:
    statuses = cluster.statuses()
    assert {statuses[v] for v in video_ids} == {"COMPLETED"}, statuses
    videos = len(video_ids)
    assert cluster.count("transcripts") == videos
    assert cluster.count("video_summaries") == videos
    assert cluster.count("processed_messages") == 2 * videos
    for event_type in EVENT_TYPES:
        assert cluster.count("outbox_events", event_type=event_type) == videos
    assert cluster.count("outbox_events") == 3 * videos
    assert cluster.count("dead_letters") == 0
    # nothing went to the Kafka dead-letter topic either (the handler's counter per process)
    for proc in procs[:2]:
        assert proc.metric("vidigest_messages_total", outcome="dead_lettered") == 0, proc.name
    for proc in procs:
        assert proc.popen.poll() is None, f"{proc.name} exited:\n{proc.log_text()[-3000:]}"


# --- the broker restarts ---


@pytest.fixture
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture
def s3_broker(s3: S3Server, tmp_path: Path) -> Iterator[TansuBroker]:
    bucket = s3.create_bucket(unique_name("tansu").lower())
    log_dir = tmp_path / "tansu"
    log_dir.mkdir()
    with TansuBroker(f"s3://{bucket}/", env=s3.client_env(), log_dir=log_dir) as broker:
        yield broker


def test_broker_restart_mid_processing_loses_nothing(
    postgres_url: str,
    postgres_db: Database,
    s3: S3Server,
    s3_broker: TansuBroker,
    clips: list[Path],
    tmp_path: Path,
) -> None:
    cluster = deploy(postgres_url, s3_broker.bootstrap, tmp_path)
    try:
        video_ids = register(cluster, clips)
        procs = start_pipeline(cluster)
        wait_in_flight(cluster, video_ids)

        # Down until both consumers have noticed, and the transcription that was running has
        # ended: its offset commit, and the publication of its event by the relay, meet a
        # broker that is gone.
        consumers_noticed = noticed(procs[:2], KAFKA_DOWN)
        s3_broker.restart(
            while_down=lambda: cluster.wait_until(
                lambda: consumers_noticed() and "TRANSCRIBING" not in cluster.statuses().values(),
                90,
                "the consumers to notice the broker is gone, and the transcription to end",
            )
        )
        assert s3_broker.alive

        cluster.wait_terminal(video_ids, timeout=240)
        assert_everything_once(cluster, video_ids, procs)
        # the broker really kept its state in S3 (topics, records, committed offsets)
        bucket = s3_broker.storage.removeprefix("s3://").strip("/")
        keys = s3.keys(bucket)
        assert any(f"/topics/{cluster.prefix}.video.registered/" in k for k in keys), keys[:20]
        assert any("/offsets/" in k for k in keys), keys[:20]
    finally:
        cluster.close()


# --- PostgreSQL restarts ---


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        database = Database(server.url)
        upgrade(database.engine)
        database.dispose()
        yield server


def test_postgres_restart_mid_processing_loses_nothing(
    private_postgres: PostgresServer,
    kafka_broker: TansuBroker,
    clips: list[Path],
    tmp_path: Path,
) -> None:
    cluster = deploy(private_postgres.url, kafka_broker.bootstrap, tmp_path)
    try:
        video_ids = register(cluster, clips)
        procs = start_pipeline(cluster)
        wait_in_flight(cluster, video_ids)

        asr, relay = procs[0], procs[2]
        max_attempts = int(cluster.env["VIDIGEST_MAX_ATTEMPTS"])
        retries = asr.metric("vidigest_messages_total", outcome="retry")
        relay_noticed = noticed([relay], DB_DOWN)
        private_postgres.stop()
        try:
            # Down until the relay has failed, and the transcription worker has failed against
            # the missing database more often than a message may fail (the transcription that
            # was running, when it stores its result; or the next one, when it starts).
            cluster.wait_until(
                lambda: (
                    relay_noticed()
                    and (
                        asr.metric("vidigest_messages_total", outcome="retry") - retries
                        >= max_attempts
                        or asr.metric("vidigest_messages_total", outcome="dead_lettered") > 0
                    )
                ),
                90,
                "the relay and the transcription worker to fail on the missing database",
            )
        finally:
            private_postgres.start()
        # an outage is not the message's fault: it is not given up on
        assert asr.metric("vidigest_messages_total", outcome="dead_lettered") == 0, asr.log_text()

        cluster.wait_terminal(video_ids, timeout=240)
        assert_everything_once(cluster, video_ids, procs)
    finally:
        cluster.close()
