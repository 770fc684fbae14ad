"""A correction in distributed mode: PostgreSQL, the Kafka-protocol broker, worker and relay
processes. `vidigest transcript replace` writes `transcript.edited` through the outbox; the
relay publishes it; the summary worker (subscribed to both of its topics in one group) makes the
summary again; another consumer group reads the same event; search follows at once."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from sqlalchemy import select

from tests.support import media
from tests.support.cluster import Cluster
from tests.support.kafka_broker import unique_name
from vidigest.modules.search.service import search_segments
from vidigest.modules.summary.models import VideoSummaryRecord

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPOKEN = "Honey bees collect nectar from flowers. The bees turn the nectar into honey."


def summary_of(cluster: Cluster, video_id: str) -> tuple[int, str]:
    with cluster.database.session() as session:
        row = session.scalar(
            select(VideoSummaryRecord).where(VideoSummaryRecord.video_id == video_id)
        )
        assert row is not None
        points = " ".join(k["text"] for k in row.key_points)
        return row.transcript_revision, f"{row.abstract} {points}".lower()


def test_a_correction_flows_through_the_broker(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start("worker", "transcription")
    summary = cluster.start("worker", "summary")
    cluster.start("worker", "relay")
    video_id = cluster.submit(media.speech(tmp_path, SPOKEN))
    cluster.wait_terminal([video_id])
    assert cluster.status(video_id) == "COMPLETED"
    assert "bees" in summary_of(cluster, video_id)[1]

    replaced = cluster.cli("transcript", "replace", video_id, "bees", "wasps", "--whole-word")
    assert replaced.returncode == 0, replaced.stderr
    assert "the summary workers summarise it again" in replaced.stdout
    with cluster.database.session() as session:
        assert [h.video_id for h in search_segments(session, "wasps")] == [video_id]
        assert search_segments(session, "bees") == []

    cluster.wait_until(
        lambda: summary_of(cluster, video_id)[0] == 1, 120, "the summary of revision 1"
    )
    text = summary_of(cluster, video_id)[1]
    assert "wasps" in text and not re.search(r"\bbees\b", text), text
    assert cluster.status(video_id) == "COMPLETED"
    assert cluster.count("video_status_logs", to_status="COMPLETED") == 1
    assert cluster.count("outbox_events", event_type="summary.completed") == 2
    assert summary.metric("vidigest_messages_total", outcome="processed") >= 2

    # any other consumer group reads the same event from its own topic
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "group.id": unique_name("text-index"),
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([cluster.topic("transcript.edited")])
    received = []
    deadline = time.monotonic() + 30
    while not received and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            received.append(message)
    consumer.close()
    (event,) = received
    assert event.key() == video_id.encode()
    body = json.loads(event.value())
    assert body["event_type"] == "transcript.edited"
    assert body["payload"]["revision"] == 1 and body["payload"]["kind"] == "replace"
