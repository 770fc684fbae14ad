"""Webhook delivery against a real receiver on loopback that verifies every signature with the
`standardwebhooks` package: retries while the receiver is down, error answers, a receiver that
never answers, the dispatcher killed mid-delivery; on SQLite and PostgreSQL."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from tests.support.cluster import Cluster
from tests.support.factories import event_message, register_video
from tests.support.ports import free_port
from tests.support.webhook_receiver import Receiver
from vidigest.common.constants import EventType, WebhookEventType
from vidigest.common.types import Event, VideoFailed
from vidigest.database.session import Database
from vidigest.messaging.delivery import Backoff
from vidigest.messaging.transport import Outcome
from vidigest.modules.videos.service import fail_video
from vidigest.modules.webhooks.dispatcher import Dispatcher
from vidigest.modules.webhooks.egress import Network
from vidigest.modules.webhooks.fanout import WebhookFanOut
from vidigest.modules.webhooks.models import WebhookAttempt, WebhookDelivery
from vidigest.modules.webhooks.service import WebhookService

LOOPBACK: list[Network] = [ipaddress.ip_network("127.0.0.0/8")]


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    logs: Callable[[], str] = lambda: "",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs()[-4000:]}")


def add_endpoint(db: Database, url: str, *events: WebhookEventType) -> tuple[str, str]:
    with db.session() as session:
        endpoint = WebhookService(session).create_endpoint(
            url, events or (WebhookEventType.VIDEO_FAILED,)
        )
        return endpoint.id, endpoint.secret


def fail_event(db: Database) -> Event:
    video = register_video(db)
    payload = VideoFailed(video_id=video.id, stage="transcription", reason="no audio track")
    return Event(
        event_type=EventType.VIDEO_FAILED, aggregate_id=video.id, payload=payload.model_dump()
    )


def fan_out(db: Database, event: Event) -> list[WebhookDelivery]:
    """The fan-out consumer handles the event (twice: the second copy is a duplicate)."""
    fanout = WebhookFanOut(db.session_factory)
    assert fanout(event_message(event), 1).outcome is Outcome.PROCESSED
    assert fanout(event_message(event), 1).outcome is Outcome.DUPLICATE
    with db.session() as session:
        rows = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_id == str(event.event_id))
        ).all()
        session.expunge_all()
        return list(rows)


def delivery(db: Database, delivery_id: str) -> WebhookDelivery:
    with db.session() as session:
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        session.expunge(row)
        return row


def attempts(db: Database, delivery_id: str) -> list[WebhookAttempt]:
    with db.session() as session:
        rows = session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.id)
        ).all()
        session.expunge_all()
        return list(rows)


@pytest.fixture
def dispatcher(db: Database) -> Iterator[Callable[..., Dispatcher]]:
    started: list[Dispatcher] = []

    def start(**options: object) -> Dispatcher:
        settings: dict[str, object] = {
            "allowed_networks": LOOPBACK,
            "timeout": 2.0,
            "concurrency": 4,
            "max_attempts": 6,
            "backoff": Backoff(0.2, 0.4),
            "poll_seconds": 0.05,
        }
        settings.update(options)
        d = Dispatcher(db.session_factory, **settings)  # type: ignore[arg-type]
        d.start()
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


def test_receiver_down_then_up_gets_it_once(
    db: Database, dispatcher: Callable[..., Dispatcher]
) -> None:
    receiver = Receiver()
    _, receiver.secret = add_endpoint(db, receiver.url)
    (owed,) = fan_out(db, fail_event(db))
    dispatcher()
    wait_until(lambda: len(attempts(db, owed.id)) >= 2, 20, "two failed attempts")
    with receiver:
        wait_until(lambda: delivery(db, owed.id).status == "delivered", 20, "the delivery")
        time.sleep(0.5)  # nothing more comes
    (got,) = receiver.received
    assert got.verified, got.error
    assert got.webhook_id == owed.id
    assert got.json["type"] == "video.failed"
    assert got.json["data"]["reason"] == "no audio track"
    log = attempts(db, owed.id)
    assert [a.status_code for a in log[:-1]] == [None] * (len(log) - 1)
    assert all(a.error == "could not connect to the receiver" for a in log[:-1])
    assert log[-1].status_code == 200 and log[-1].error is None
    assert delivery(db, owed.id).attempts == len(log)


def test_500_then_200(db: Database, dispatcher: Callable[..., Dispatcher]) -> None:
    with Receiver(answers=[500, 200]) as receiver:
        _, receiver.secret = add_endpoint(db, receiver.url)
        (owed,) = fan_out(db, fail_event(db))
        dispatcher()
        wait_until(lambda: delivery(db, owed.id).status == "delivered", 20, "the delivery")
    assert [r.webhook_id for r in receiver.received] == [owed.id, owed.id]
    assert all(r.verified for r in receiver.received)
    # each attempt is signed anew (its own timestamp); the body is the same bytes
    assert receiver.received[0].body == receiver.received[1].body
    log = attempts(db, owed.id)
    assert [(a.attempt, a.status_code, a.error) for a in log] == [
        (1, 500, "HTTP 500"),
        (2, 200, None),
    ]
    assert all(a.latency_ms >= 0 for a in log)


def test_a_receiver_that_never_answers_is_dead_lettered_without_holding_others(
    db: Database, dispatcher: Callable[..., Dispatcher]
) -> None:
    with Receiver(answers=["hang"]) as silent, Receiver() as healthy:
        silent_id, silent.secret = add_endpoint(db, silent.url)
        healthy_id, healthy.secret = add_endpoint(db, healthy.url)
        owed = {d.endpoint_id: d for d in fan_out(db, fail_event(db))}
        stuck, fine = owed[silent_id], owed[healthy_id]
        dispatcher(timeout=0.5, max_attempts=3, concurrency=2)
        wait_until(lambda: delivery(db, fine.id).status == "delivered", 20, "the healthy one")
        wait_until(lambda: delivery(db, stuck.id).status == "dead", 30, "the dead letter")
        assert len(healthy.received) == 1 and healthy.received[0].verified
    log = attempts(db, stuck.id)
    assert [(a.attempt, a.status_code, a.error) for a in log] == [
        (n, None, "no answer within 0.5s") for n in (1, 2, 3)
    ]
    assert len(silent.received) == 3 and {r.webhook_id for r in silent.received} == {stuck.id}
    assert all(r.verified for r in silent.received)
    assert delivery(db, stuck.id).last_error == "no answer within 0.5s"


def test_a_slow_receivers_backlog_takes_one_slot_only(
    db: Database, dispatcher: Callable[..., Dispatcher]
) -> None:
    """Four deliveries to a receiver that never answers fall due before one to a healthy
    receiver; with two slots and one per endpoint, the healthy one goes out at once."""
    with Receiver(answers=["hang"]) as silent, Receiver() as healthy:
        _, silent.secret = add_endpoint(db, silent.url)
        for _ in range(4):
            fan_out(db, fail_event(db))
        healthy_id, healthy.secret = add_endpoint(db, healthy.url)
        owed = {d.endpoint_id: d for d in fan_out(db, fail_event(db))}
        dispatcher(timeout=3.0, max_attempts=1, concurrency=2, per_endpoint=1)
        wait_until(lambda: delivery(db, owed[healthy_id].id).status == "delivered", 20, "it")
        assert len(silent.received) == 1  # the silent one held one slot, one attempt at a time
    assert len(healthy.received) == 1 and healthy.received[0].verified


def test_a_rotated_secret_and_the_previous_one_both_sign_during_the_grace_period(
    db: Database, dispatcher: Callable[..., Dispatcher]
) -> None:
    with Receiver() as old_side:
        endpoint_id, old_secret = add_endpoint(db, old_side.url)
        with db.session() as session:
            new_secret = WebhookService(session).rotate_secret(endpoint_id, 1.0).secret
        old_side.secret = old_secret  # a receiver not yet switched over
        (owed,) = fan_out(db, fail_event(db))
        dispatcher()
        wait_until(lambda: delivery(db, owed.id).status == "delivered", 20, "the delivery")
        (got,) = old_side.received
        assert got.verified, got.error
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        Webhook(new_secret).verify(got.body, got.headers)  # a receiver already switched over
        with db.session() as session:  # no grace: the old secret no longer signs
            WebhookService(session).rotate_secret(endpoint_id, 0)
        (second,) = fan_out(db, fail_event(db))
        wait_until(lambda: delivery(db, second.id).status == "delivered", 20, "the second")
        assert not old_side.received[-1].verified
        assert len(old_side.received[-1].headers["webhook-signature"].split(" ")) == 1


# --- the dispatcher's process killed mid-delivery ----------------------------------------------


def failed_video_event(db: Database) -> None:
    """A video that failed: its `video.failed` event waits in the outbox."""
    video = register_video(db)
    with db.session() as session:
        fail_video(session, video.id, "transcription", "no audio track")


def owed_deliveries(db: Database) -> list[WebhookDelivery]:
    with db.session() as session:
        rows = session.scalars(select(WebhookDelivery)).all()
        session.expunge_all()
        return list(rows)


def kill_mid_delivery_then_restart(
    db: Database, start: Callable[[], subprocess.Popen[bytes]], logs: Callable[[], str]
) -> None:
    """The receiver holds the first attempt; the process sending it is SIGKILLed; a new one
    delivers it after the lease, with the same webhook-id."""
    with Receiver(answers=["hang", 200]) as receiver:
        _, receiver.secret = add_endpoint(db, receiver.url)
        failed_video_event(db)
        first = start()
        try:
            wait_until(lambda: len(receiver.received) == 1, 60, "the first attempt", logs)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        (owed,) = owed_deliveries(db)
        assert owed.status == "pending" and attempts(db, owed.id) == []
        second = start()
        try:
            wait_until(lambda: delivery(db, owed.id).status == "delivered", 60, "delivery", logs)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
    assert [r.webhook_id for r in receiver.received] == [owed.id, owed.id]
    assert all(r.verified for r in receiver.received)
    assert receiver.received[0].body == receiver.received[1].body
    # the killed attempt counted (the receiver may have acted on it) but left no answer
    assert [(a.attempt, a.status_code) for a in attempts(db, owed.id)] == [(2, 200)]
    assert len(owed_deliveries(db)) == 1  # the fan-out ran again after the kill: nothing new


@pytest.mark.integration
def test_embedded_serve_killed_mid_delivery(tmp_path: Path, sqlite_db: Database) -> None:
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "VIDIGEST_DATA_DIR": str(tmp_path / "data"),
        "VIDIGEST_DATABASE_URL": str(sqlite_db.url),
        "VIDIGEST_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "VIDIGEST_WEBHOOK_TIMEOUT_SECONDS": "2",
        "VIDIGEST_WEBHOOK_POLL_SECONDS": "0.1",
    }

    def start() -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "vidigest", "-v", "serve", "--port", str(free_port())]
        with log.open("ab") as sink:
            return subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)

    kill_mid_delivery_then_restart(sqlite_db, start, lambda: log.read_text(errors="replace"))


@pytest.mark.integration
def test_distributed_webhook_worker_killed_mid_delivery(cluster: Cluster) -> None:
    cluster.extra_env.update(
        {
            "VIDIGEST_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "VIDIGEST_WEBHOOK_TIMEOUT_SECONDS": "2",
            "VIDIGEST_WEBHOOK_POLL_SECONDS": "0.1",
        }
    )
    cluster.start("worker", "relay")

    def start() -> subprocess.Popen[bytes]:
        return cluster.start("worker", "webhooks", name="webhooks").popen

    def logs() -> str:
        return "\n".join(p.log_text()[-2000:] for p in cluster.procs)

    kill_mid_delivery_then_restart(cluster.database, start, logs)
