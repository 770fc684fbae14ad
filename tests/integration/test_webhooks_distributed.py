"""Distributed mode end to end with webhooks: worker, relay and `worker webhooks` processes,
PostgreSQL and the Kafka-protocol broker, real speech recognition. A video that completes and
one that fails reach a real receiver (signatures verified with `standardwebhooks`), and every
message on every event topic is validated against the committed JSON Schemas."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from tests.support import media
from tests.support.cluster import Cluster
from tests.support.contracts import check_event, check_webhook
from tests.support.kafka_broker import unique_name
from tests.support.webhook_receiver import Receiver
from vidigest.common.constants import EventType, WebhookEventType
from vidigest.modules.webhooks.service import WebhookService

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def read_topics(cluster: Cluster, expected: int) -> list[Any]:
    """Every message of the event topics, from the start (a group of its own)."""
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "group.id": unique_name("contract-reader"),
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 2000,
        }
    )
    consumer.subscribe([cluster.topic(e.topic) for e in EventType])
    messages: list[Any] = []
    deadline = time.monotonic() + 60
    while len(messages) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            messages.append(message)
    consumer.close()
    return messages


def test_webhooks_and_event_contracts_in_distributed_mode(cluster: Cluster, tmp_path: Path) -> None:
    cluster.extra_env.update(
        {
            "VIDIGEST_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "VIDIGEST_WEBHOOK_POLL_SECONDS": "0.1",
            "VIDIGEST_PROGRESS_EVENT_SECONDS": "0.001",
            "VIDIGEST_SPEAKERS": "off",
        }
    )
    with Receiver() as receiver:
        with cluster.database.session() as session:
            endpoint = WebhookService(session).create_endpoint(receiver.url, list(WebhookEventType))
            receiver.secret = endpoint.secret
        for name in ("transcription", "summary", "relay", "webhooks"):
            cluster.start("worker", name)
        good = cluster.submit(media.speech(tmp_path, "The river flows quietly to the sea."))
        bad = cluster.register(tmp_path / "deleted-before-transcription.wav")
        cluster.wait_terminal([good, bad])
        assert cluster.status(good) == "COMPLETED" and cluster.status(bad) == "FAILED"

        def arrived() -> set[tuple[str, str]]:
            return {(r.json["type"], r.json["data"]["video_id"]) for r in receiver.received}

        wanted = {("video.completed", good), ("video.failed", bad)}
        cluster.wait_until(lambda: wanted <= arrived(), 60, "the webhooks")
        time.sleep(1)

    assert all(r.verified for r in receiver.received), [r.error for r in receiver.received]
    ids = [r.webhook_id for r in receiver.received]
    assert len(ids) == len(set(ids)), "a delivery arrived twice"
    for r in receiver.received:
        check_webhook(r.json)
    failed = next(r.json["data"] for r in receiver.received if r.json["type"] == "video.failed")
    assert failed["stage"] == "transcription" and failed["reason"]
    assert "/" not in failed["reason"]  # no server path in what receivers read

    outbox = cluster.count("outbox_events")
    messages = read_topics(cluster, outbox)
    assert len(messages) >= outbox
    seen = set()
    for message in messages:
        envelope = json.loads(message.value())
        check_event(envelope)
        headers = {k: v.decode() for k, v in message.headers() or []}
        assert headers["event_type"] == envelope["event_type"]
        assert headers["event_id"] == envelope["event_id"]
        assert message.key().decode() == envelope["aggregate_id"]
        assert message.topic() == cluster.topic(envelope["event_type"])
        seen.add(envelope["event_type"])
    assert seen >= {"video.registered", "transcription.completed", "summary.completed"}
    assert "video.failed" in seen and "video.progress" in seen
