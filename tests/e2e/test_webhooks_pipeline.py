"""Embedded mode end to end with webhooks: `serve`'s app with its in-process workers and
dispatcher, real speech recognition, a subscribed endpoint and a per-video callback_url, both
real receivers on loopback verifying every signature with `standardwebhooks`. Every event the
run emitted and every webhook body is validated against the committed JSON Schemas."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support.api import api_settings
from tests.support.contracts import check_event, check_webhook
from tests.support.paths import SAMPLES
from tests.support.webhook_receiver import Receiver
from vidigest.database.session import Database
from vidigest.http.main import create_app
from vidigest.messaging.models import OutboxEvent

pytestmark = pytest.mark.slow


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_signed_webhooks_from_the_embedded_pipeline(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'e2e.db'}"
    settings = api_settings(
        tmp_path / "data",
        database_url,
        webhook_allowed_networks="127.0.0.0/8",
        webhook_poll_seconds=0.1,
        progress_event_seconds=0.001,  # every progress update of this short file
        speakers="off",
    )
    with (
        Receiver() as subscriber,
        Receiver() as callback,
        TestClient(create_app(settings, run_workers=True)) as client,
    ):
        endpoint = client.post(
            "/webhooks/endpoints",
            json={"url": subscriber.url, "events": ["video.completed", "video.progress"]},
        ).json()
        subscriber.secret = endpoint["secret"]
        with (SAMPLES / "librivox_speech.mp4").open("rb") as handle:
            response = client.post(
                "/videos",
                files={"file": ("librivox_speech.mp4", handle)},
                data={"callback_url": callback.url},
            )
        assert response.status_code == 201, response.text
        video = response.json()
        callback.secret = video["callback_secret"]
        assert callback.secret.startswith("whsec_")
        assert client.get(f"/videos/{video['id']}").json()["callback_secret"] is None

        def completed(receiver: Receiver) -> bool:
            return any(r.json["type"] == "video.completed" for r in receiver.received)

        wait_for(lambda: completed(subscriber) and completed(callback), 300, "both webhooks")
        time.sleep(0.5)  # anything sent twice would arrive now
        deliveries = client.get(f"/webhooks/endpoints/{endpoint['id']}/deliveries").json()
        of_video = client.get(f"/webhooks/deliveries?video_id={video['id']}").json()

    for receiver in (subscriber, callback):
        assert all(r.verified for r in receiver.received), [r.error for r in receiver.received]
        ids = [r.webhook_id for r in receiver.received]
        assert len(ids) == len(set(ids)), "a delivery arrived twice"
        for r in receiver.received:
            check_webhook(r.json)
            assert r.json["data"]["video_id"] == video["id"]
    assert [r.json["type"] for r in callback.received] == ["video.completed"]
    types = [r.json["type"] for r in subscriber.received]
    assert types.count("video.completed") == 1 and "video.progress" in types
    done = next(r for r in subscriber.received if r.json["type"] == "video.completed")
    assert done.json["data"]["status"] == "COMPLETED"
    assert done.json["data"]["language"] == "en" and done.json["data"]["transcript_id"]
    progress = [r.json["data"] for r in subscriber.received if r.json["type"] == "video.progress"]
    transcribing = [p for p in progress if p["stage"] == "transcription"]
    assert transcribing and all(0 <= p["percent"] <= 100 for p in transcribing)
    assert all(p["processed_audio_seconds"] <= p["total_audio_seconds"] for p in transcribing)
    assert {d["status"] for d in deliveries["deliveries"]} == {"delivered"}
    # the video's deliveries: the subscriber's and its callback_url's
    assert len(of_video["deliveries"]) == len(subscriber.received) + len(callback.received)
    print("\nsigned delivery as received:", json.dumps(done.headers, indent=2))
    print("body:", done.body.decode())

    # every event the run emitted, as it went out, against its published schema
    database = Database(database_url)
    with database.session() as session:
        envelopes = [row.payload for row in session.scalars(select(OutboxEvent))]
    database.dispose()
    kinds = {e["event_type"] for e in envelopes}
    assert {"video.registered", "transcription.completed", "summary.completed"} <= kinds
    assert "video.progress" in kinds
    for envelope in envelopes:
        check_event(envelope)
