"""Webhook benchmark: what durable, signed delivery costs over sending the same POSTs directly.

    .venv/bin/python bench/webhooks.py [--deliveries N] [--smoke]

A receiver on loopback (an HTTP server answering 204) and a SQLite database in a temporary
directory; measured in the same run:
  direct      N signed POSTs from a pool of `--concurrency` threads, one client, a new
              connection each (as the dispatcher sends them): the baseline
  fan-out     events turned into delivery rows (the webhook consumer: processed mark + rows)
  dispatcher  the same N deliveries claimed, sent, recorded (attempt log) until all delivered
Ratios are deliveries/s against the baseline.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vidigest.common.constants import EventType, WebhookEventType
from vidigest.common.types import Event, VideoFailed
from vidigest.database.migrate import upgrade
from vidigest.database.session import Database
from vidigest.messaging.codec import encode_event
from vidigest.messaging.delivery import Backoff
from vidigest.modules.videos.service import VideoService
from vidigest.modules.webhooks.dispatcher import Dispatcher, http_client
from vidigest.modules.webhooks.fanout import WebhookFanOut
from vidigest.modules.webhooks.models import WebhookDelivery
from vidigest.modules.webhooks.service import WebhookService
from vidigest.modules.webhooks.signing import new_secret, signed_headers


class Quiet(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def direct(url: str, n: int, concurrency: int, body: str) -> float:
    """The same signed POSTs from one client without keep-alive (as the dispatcher sends)."""
    secret = new_secret()
    client = http_client(concurrency)

    def post(i: int) -> None:
        headers = signed_headers([secret], f"msg_{i}", int(time.time()), body)
        client.post(url, content=body.encode(), headers=headers).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, range(n)))
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="a tiny run (tests)")
    args = parser.parse_args()
    n = 20 if args.smoke else args.deliveries

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"

    with tempfile.TemporaryDirectory() as tmp:
        database = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(database.engine)
        with database.session() as session:
            WebhookService(session).create_endpoint(url, [WebhookEventType.VIDEO_FAILED])
            video = VideoService(session).register(
                media_path=Path("/media/a.mp4"), source_type="path", source_uri="/media/a.mp4"
            )
            video_id = video.id
        events = [
            Event(
                event_type=EventType.VIDEO_FAILED,
                aggregate_id=video_id,
                payload=VideoFailed(video_id=video_id, stage="summary", reason="x").model_dump(),
            )
            for _ in range(n)
        ]
        fanout = WebhookFanOut(database.session_factory)
        started = time.perf_counter()
        for e in events:
            fanout(
                encode_event(
                    str(e.event_id), e.event_type, video_id, e.model_dump(mode="json"), "t"
                ),
                1,
            )
        fanned = time.perf_counter() - started
        with database.session() as session:
            body = session.scalars(select(WebhookDelivery.body).limit(1)).one()

        baseline = direct(url, n, args.concurrency, body)

        dispatcher = Dispatcher(
            database.session_factory,
            allowed_networks=[ipaddress.ip_network("127.0.0.0/8")],
            concurrency=args.concurrency,
            per_endpoint=args.concurrency,
            backoff=Backoff(0.1, 0.1),
            poll_seconds=0.01,
        )

        def delivered() -> int:
            with database.session() as session:
                return int(
                    session.scalar(
                        select(func.count())
                        .select_from(WebhookDelivery)
                        .where(WebhookDelivery.status == "delivered")
                    )
                    or 0
                )

        started = time.perf_counter()
        dispatcher.start()
        while delivered() < n:
            time.sleep(0.01)
        sent = time.perf_counter() - started
        dispatcher.stop()
        database.dispose()
    server.shutdown()

    rate = n / baseline
    print(f"{n} deliveries, {args.concurrency} at a time, SQLite, receiver on loopback")
    print(f"{'what':<52} {'deliveries/s':>12} {'ratio':>7}")
    rows = [
        ("direct signed POSTs, no keep-alive (baseline)", baseline),
        ("fan-out: events -> delivery rows", fanned),
        ("dispatcher: claim, POST, record, until delivered", sent),
    ]
    for name, seconds in rows:
        print(f"{name:<52} {n / seconds:>12.1f} {(n / seconds) / rate:>7.3f}")


if __name__ == "__main__":
    main()
