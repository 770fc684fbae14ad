"""The webhook routes: register (address policy, allow-list), list, disable, rotate the
secret, delete; the delivery log read back after a real delivery; and the same through the CLI."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path

from standardwebhooks import Webhook

from tests.support.api import MakeClient, assert_error
from tests.support.factories import event_message, register_video
from tests.support.webhook_receiver import Receiver
from vidigest.common.constants import EventType
from vidigest.common.types import Event, VideoFailed
from vidigest.database.session import Database
from vidigest.messaging.delivery import Backoff
from vidigest.modules.webhooks.dispatcher import Dispatcher
from vidigest.modules.webhooks.fanout import WebhookFanOut


def test_private_addresses_are_refused_unless_allowed(
    make_client: MakeClient, backend: str
) -> None:
    client = make_client(backend)
    for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://[::1]:8/x"):
        error = assert_error(client.post("/webhooks/endpoints", json={"url": url}), 403)
        assert "not a public address" in error["message"]
    assert_error(
        client.post("/webhooks/endpoints", json={"url": "ftp://example.com/"}), 422, "bad_url"
    )
    assert_error(
        client.post("/webhooks/endpoints", json={"url": "http://u:p@1.1.1.1/"}), 422, "bad_url"
    )
    response = client.post(
        "/webhooks/endpoints", json={"url": "http://127.0.0.1:9/", "events": ["video.done"]}
    )
    assert_error(response, 422)
    assert client.get("/webhooks/endpoints").json() == {"endpoints": []}

    allowed = make_client(backend, webhook_allowed_networks="127.0.0.0/8")
    response = allowed.post("/webhooks/endpoints", json={"url": "http://127.0.0.1:9/hook"})
    assert response.status_code == 201, response.text
    assert_error(allowed.post("/webhooks/endpoints", json={"url": "http://10.1.2.3/"}), 403)


def test_endpoint_lifecycle(make_client: MakeClient, backend: str) -> None:
    client = make_client(backend, webhook_allowed_networks="127.0.0.1/32")
    response = client.post(
        "/webhooks/endpoints",
        json={
            "url": "http://127.0.0.1:9/hook",
            "events": ["video.progress", "video.completed"],
            "description": "CI",
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["secret"].startswith("whsec_")
    Webhook(created["secret"])  # a secret the reference implementation takes
    assert created["events"] == ["video.completed", "video.progress"]
    assert created["enabled"] is True
    endpoint_id = created["id"]

    listed = client.get("/webhooks/endpoints").json()["endpoints"]
    assert [e["id"] for e in listed] == [endpoint_id]
    assert (
        "secret" not in listed[0]
        and "secret" not in client.get(f"/webhooks/endpoints/{endpoint_id}").json()
    )
    assert (
        client.get(f"/webhooks/endpoints/{endpoint_id}/secret").json()["secret"]
        == (created["secret"])
    )

    disabled = client.post(f"/webhooks/endpoints/{endpoint_id}/disable").json()
    assert disabled["enabled"] is False
    assert client.post(f"/webhooks/endpoints/{endpoint_id}/enable").json()["enabled"] is True
    rotated = client.post(f"/webhooks/endpoints/{endpoint_id}/rotate-secret").json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]

    assert_error(client.post(f"/webhooks/endpoints/{endpoint_id}/explode"), 422)
    assert_error(client.get("/webhooks/endpoints/ep_nope"), 404, "not_found")
    # no control characters anywhere (PostgreSQL text cannot hold NUL: a 422, never a 500)
    for body in (
        {"url": "http://127.0.0.1:9/\x00"},
        {"url": "http://127.0.0.1:9/", "description": "a\x00b"},
    ):
        assert_error(client.post("/webhooks/endpoints", json=body), 422)
    assert_error(client.get("/webhooks/endpoints/ep%00x"), 422)
    assert_error(client.get("/webhooks/deliveries?video_id=v%00"), 422)
    assert_error(client.get("/webhooks/deliveries/msg_nope"), 404, "not_found")
    assert client.delete(f"/webhooks/endpoints/{endpoint_id}").status_code == 204
    assert_error(client.get(f"/webhooks/endpoints/{endpoint_id}"), 404)


def test_the_delivery_log_through_the_api(make_client: MakeClient, sqlite_url: str) -> None:
    client = make_client(sqlite_url, webhook_allowed_networks="127.0.0.0/8")
    database = Database(sqlite_url)
    with Receiver(answers=[503, 204]) as receiver:
        created = client.post("/webhooks/endpoints", json={"url": receiver.url}).json()
        receiver.secret = created["secret"]
        video = register_video(database)
        payload = VideoFailed(video_id=video.id, stage="summary", reason="boom")
        event = Event(
            event_type=EventType.VIDEO_FAILED, aggregate_id=video.id, payload=payload.model_dump()
        )
        WebhookFanOut(database.session_factory)(event_message(event), 1)
        dispatcher = Dispatcher(
            database.session_factory,
            allowed_networks=[ipaddress.ip_network("127.0.0.0/8")],
            poll_seconds=0.05,
            backoff=Backoff(0.1, 0.1),
        )
        dispatcher.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(receiver.received) < 2:
                time.sleep(0.05)
        finally:
            dispatcher.stop()
    deliveries = client.get(f"/webhooks/endpoints/{created['id']}/deliveries").json()
    (item,) = deliveries["deliveries"]
    assert item["status"] == "delivered" and item["attempts"] == 2
    assert item["event_type"] == "video.failed" and item["video_id"] == video.id
    assert item["last_status_code"] == 204
    detail = client.get(f"/webhooks/deliveries/{item['id']}").json()
    assert [(a["attempt"], a["status_code"], a["error"]) for a in detail["log"]] == [
        (1, 503, "HTTP 503"),
        (2, 204, None),
    ]
    assert all(a["latency_ms"] >= 0 for a in detail["log"])
    assert receiver.received[-1].body.decode() == detail["payload"]
    pending = client.get(f"/webhooks/endpoints/{created['id']}/deliveries?status=pending")
    assert pending.json() == {"deliveries": []}
    again = client.post(f"/webhooks/deliveries/{item['id']}/redeliver").json()
    assert again["status"] == "pending" and again["id"] == item["id"]
    database.dispose()


def test_cli(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VIDIGEST_DATA_DIR": str(tmp_path / "data"),
        "VIDIGEST_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "COLUMNS": "250",  # the table's rows on one line each
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "vidigest", "webhooks", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    added = cli("add", "http://127.0.0.1:9/hook", "--event", "video.progress")
    assert added.returncode == 0, added.stderr
    endpoint_id = added.stdout.split()[0]
    assert endpoint_id.startswith("ep_") and "secret: whsec_" in added.stdout
    assert "video.progress" in added.stdout
    refused = cli("add", "http://10.0.0.1/hook")
    assert refused.returncode == 1 and "not a public address" in refused.stderr
    unknown = cli("add", "http://127.0.0.1:9/", "--event", "video.done")
    assert unknown.returncode == 1 and "unknown event 'video.done'" in unknown.stderr
    assert endpoint_id in cli("list").stdout
    assert "disabled" in cli("disable", endpoint_id).stdout
    rotated = cli("rotate-secret", endpoint_id).stdout
    assert (
        "secret: whsec_" in rotated
        and rotated.split("secret: ")[1] != added.stdout.split("secret: ")[1]
    )
    assert cli("deliveries", endpoint_id).returncode == 0
    missing = cli("disable", "ep_nope")
    assert missing.returncode == 1 and "no webhook endpoint" in missing.stderr
