"""Chaos: kill -9 workers and relays at random moments while videos flow, then publish every
message twice, then check that every video completed and every effect exists exactly once.

    make chaos                       # 30 videos, 100 kills
    VIDIGEST_CHAOS_SEED=7 make chaos # replay one run

The test suite runs it smaller (8 videos, 20 kills). It prints one verdict line:
    chaos: N videos, M kills, K restarts, lost=0 duplicated=0
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from sqlalchemy import text

from tests.support import media
from tests.support.cluster import Cluster, Proc
from tests.support.kafka_broker import unique_name
from tests.support.s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server
from vidigest.config import Settings
from vidigest.modules.videos.service import VideoService
from vidigest.storage import MediaStore, open_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VIDEOS = int(os.environ.get("VIDIGEST_CHAOS_VIDEOS", "8"))
KILLS = int(os.environ.get("VIDIGEST_CHAOS_KILLS", "20"))
SEED = int(os.environ.get("VIDIGEST_CHAOS_SEED", str(random.randrange(1 << 30))))
ROLES = {"transcription": 2, "summary": 1, "relay": 2}
PIPELINE_TOPICS = ("video.registered", "transcription.completed", "summary.completed")
GROUPS = {"video.registered": "transcription-worker", "transcription.completed": "summary-worker"}
SENTENCES = [
    "Honey bees collect nectar from flowers.",
    "A volcano erupts when magma rises.",
    "Early bicycles had no pedals at all.",
]


def read_topic(bootstrap: str, topic: str) -> list[tuple[int, int, bytes, str | None]]:
    """Every message of `topic` from the beginning: (partition, offset, value, event id).

    Partitions are assigned directly: no consumer group to join (slow on tansu), and the end
    is found by reading until nothing comes (tansu's high watermark is unreliable).
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique_name("reader"),
            "enable.auto.commit": False,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    out: list[tuple[int, int, bytes, str | None]] = []
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 2:
        for m in consumer.consume(500, 0.5):
            if m.error() is None:
                headers = dict(m.headers() or [])
                event_id = headers.get("event_id")
                out.append(
                    (m.partition(), m.offset(), m.value(), event_id.decode() if event_id else None)
                )
                idle_since = time.monotonic()
    consumer.close()
    assert partitions, f"topic {topic} has no partitions"
    return out


def wait_committed(cluster: Cluster, timeout: float = 120) -> None:
    """Until each worker group has committed every message of its topic."""
    for name, consumer_name in GROUPS.items():
        topic = cluster.topic(name)
        ends: dict[int, int] = {}
        for partition, offset, _, _ in read_topic(cluster.bootstrap, topic):
            ends[partition] = max(ends.get(partition, 0), offset + 1)
        assert ends, f"nothing on {topic}"
        probe = Consumer(
            {
                "bootstrap.servers": cluster.bootstrap,
                "group.id": f"{cluster.prefix}.{consumer_name}",
            }
        )

        def caught_up(
            probe: Consumer = probe, topic: str = topic, ends: dict[int, int] = ends
        ) -> bool:
            committed = probe.committed([TopicPartition(topic, p) for p in ends], timeout=5)
            return all(tp.offset >= ends[tp.partition] for tp in committed)

        cluster.wait_until(caught_up, timeout, f"{consumer_name} to commit all of {topic}")
        probe.close()


def verdict(cluster: Cluster, video_ids: list[str]) -> tuple[int, int, list[str]]:
    """(lost, duplicated, details) from SQL and from the topics."""
    details: list[str] = []
    statuses = cluster.statuses()
    lost = sum(1 for v in video_ids if statuses.get(v) != "COMPLETED")
    details += [
        f"video {v} ended {statuses.get(v)}" for v in video_ids if statuses.get(v) != "COMPLETED"
    ]
    with cluster.database.engine.connect() as c:

        def rows(sql: str) -> list[tuple[object, ...]]:
            return [tuple(r) for r in c.execute(text(sql)).all()]

        duplicated_rows = (
            rows("SELECT video_id, count(*) FROM transcripts GROUP BY 1 HAVING count(*) > 1")
            + rows("SELECT video_id, count(*) FROM video_summaries GROUP BY 1 HAVING count(*) > 1")
            + rows(
                "SELECT aggregate_id, event_type, count(*) FROM outbox_events "
                "GROUP BY 1, 2 HAVING count(*) > 1"
            )
            + rows(
                "SELECT video_id, to_status, count(*) FROM video_status_logs "
                "WHERE to_status IN ('TRANSCRIBED', 'COMPLETED') GROUP BY 1, 2 "
                "HAVING count(*) > 1"
            )
        )
        missing_effects = rows(
            "SELECT v.id FROM videos v LEFT JOIN transcripts t ON t.video_id = v.id "
            "LEFT JOIN video_summaries s ON s.video_id = v.id "
            "WHERE t.id IS NULL OR s.id IS NULL"
        )
        unpublished = rows("SELECT event_id FROM outbox_events WHERE published_at IS NULL")
        outbox = rows("SELECT event_id, topic FROM outbox_events")
        dead = rows("SELECT consumer, error FROM dead_letters")
    duplicated = len(duplicated_rows)
    details += [f"duplicated: {r}" for r in duplicated_rows]
    lost += len(missing_effects) + len(unpublished) + len(dead)
    details += [f"no transcript/summary: {r}" for r in missing_effects]
    details += [f"never published: {r}" for r in unpublished]
    details += [f"dead letter: {r}" for r in dead]
    on_topics = {
        name: {e for *_, e in read_topic(cluster.bootstrap, cluster.topic(name))}
        for name in PIPELINE_TOPICS
    }
    not_on_topic = [(e, t) for e, t in outbox if e not in on_topics[str(t)]]
    lost += len(not_on_topic)
    details += [f"in the outbox but not on its topic: {r}" for r in not_on_topic]
    return lost, duplicated, details


class Layout:
    """Where the media live: one shared directory (files registered in place), or a bucket,
    each process on a disk of its own (a restarted process gets its host's disk back)."""

    def __init__(self, cluster: Cluster, tmp_path: Path, s3: S3Server | None) -> None:
        self.cluster, self.tmp_path = cluster, tmp_path
        self.store: MediaStore | None = None
        if s3 is not None:
            bucket = s3.create_bucket(unique_name("chaos").lower().replace("_", "-")[:60])
            cluster.extra_env.update(
                VIDIGEST_STORAGE_URL=f"s3://{bucket}/media",
                VIDIGEST_STORAGE_ENDPOINT_URL=s3.endpoint,
                VIDIGEST_STORAGE_REGION=REGION,
                VIDIGEST_STORAGE_ACCESS_KEY_ID=ACCESS_KEY,
                VIDIGEST_STORAGE_SECRET_ACCESS_KEY=SECRET_KEY,
                VIDIGEST_STORAGE_PATH_STYLE="true",
            )
            self.store = open_store(
                Settings(
                    data_dir=tmp_path / "hosts" / "test",
                    **{k[len("VIDIGEST_") :].lower(): v for k, v in cluster.extra_env.items()},
                )
            )

    def start(self, role: str, index: int) -> Proc:
        name = f"{role}-{index}"
        env = None
        if self.store is not None:
            disk = self.tmp_path / "hosts" / name
            disk.mkdir(parents=True, exist_ok=True)
            env = {"VIDIGEST_DATA_DIR": str(disk)}
        return self.cluster.start("worker", role, name=name, metrics=False, env=env)

    def register(self, clip: Path) -> str:
        if self.store is None:
            return self.cluster.register(clip)
        ref = self.store.put_file(clip, clip.name)
        with self.cluster.database.session() as session:
            return (
                VideoService(session)
                .register(media_path=ref, source_type="upload", source_uri=clip.name)
                .id
            )


@pytest.fixture(params=["shared-disk", "bucket"])
def layout(request: pytest.FixtureRequest, cluster: Cluster, tmp_path: Path) -> Iterator[Layout]:
    if request.param == "shared-disk":
        yield Layout(cluster, tmp_path, None)
        return
    with S3Server() as s3:
        yield Layout(cluster, tmp_path, s3)


def test_kill_nine_at_random_points(cluster: Cluster, layout: Layout, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    print(f"\nchaos seed {SEED}")
    clips = [media.speech(tmp_path, s) for s in SENTENCES]
    procs: dict[str, list[Proc]] = {
        role: [layout.start(role, i) for i in range(count)] for role, count in ROLES.items()
    }
    video_ids: list[str] = []
    kills = restarts = 0
    weights = [count for count in ROLES.values()]
    while kills < KILLS:
        if len(video_ids) < VIDEOS:  # videos keep arriving during the first kills
            video_ids.append(layout.register(rng.choice(clips)))
        time.sleep(rng.uniform(0.2, 2.5))
        role = rng.choices(list(ROLES), weights)[0]
        victim = rng.randrange(len(procs[role]))
        cluster.stop(procs[role][victim], signal.SIGKILL)
        kills += 1
        time.sleep(rng.uniform(0.0, 1.0))
        procs[role][victim] = layout.start(role, victim)
        restarts += 1
    while len(video_ids) < VIDEOS:
        video_ids.append(layout.register(rng.choice(clips)))
    cluster.wait_terminal(video_ids, timeout=180 + 5 * VIDEOS)
    wait_committed(cluster)

    # duplicate storm: every message of every pipeline topic published twice more
    producer = Producer({"bootstrap.servers": cluster.bootstrap})
    republished = Counter[str]()
    for name in PIPELINE_TOPICS:
        for partition, _, value, event_id in read_topic(cluster.bootstrap, cluster.topic(name)):
            headers = [("event_id", (event_id or "").encode())]
            for _ in range(2):
                producer.produce(
                    cluster.topic(name), value=value, partition=partition, headers=headers
                )
                republished[name] += 1
    producer.flush(30)
    wait_committed(cluster)

    lost, duplicated, details = verdict(cluster, video_ids)
    line = (
        f"chaos: {len(video_ids)} videos, {kills} kills, {restarts} restarts, "
        f"lost={lost} duplicated={duplicated}"
    )
    print(line)
    assert (lost, duplicated) == (0, 0), "\n".join([line, f"seed {SEED}", *details])
    if layout.store is not None:  # every file belongs to a video; no scratch copy survives
        referenced = {layout.store.size(ref) is not None for ref in layout.store.list_refs()}
        assert len(list(layout.store.list_refs())) == len(video_ids) and referenced == {True}
        scratch = [p for p in (tmp_path / "hosts").rglob("*") if p.is_file()]
        assert scratch == [], scratch
    assert republished["video.registered"] >= 2 * len(video_ids)
