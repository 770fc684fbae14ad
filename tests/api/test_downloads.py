"""URL registration as a tracked stage, against real loopback HTTP servers: the video is
DOWNLOADING at once (202), the download runs in its own bounded pool with one deadline that a
dripping server cannot stretch, requests keep being answered, shutdown cancels downloads, a
process that died leaves nothing DOWNLOADING for ever, and retry downloads again.

The address policy refuses loopback; these tests admit their own server through the pool's
`allowed` policy, the way tests/api/test_sources.py passes `allowed=` to fetch_url."""

from __future__ import annotations

import http.server
import ipaddress
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tests.api.conftest import MakeClient, api_settings
from tests.media import tone
from vidigest.api import create_app
from vidigest.database.base import utcnow
from vidigest.database.migrate import upgrade
from vidigest.database.session import Database
from vidigest.messaging.models import OutboxEvent
from vidigest.modules.videos.models import Video
from vidigest.modules.videos.service import VideoService
from vidigest.modules.videos.sources import IPAddress, public_address

DRIP_BYTES_PER_SECOND = 2


def loopback_too(ip: IPAddress) -> bool:
    return ip == ipaddress.ip_address("127.0.0.1") or public_address(ip)


class _Handler(http.server.BaseHTTPRequestHandler):
    """/drip/*: declares 1 MB and sends 2 bytes a second; /file/*: the bytes in `body`."""

    body: bytes = b""
    status: int = 200
    stop = threading.Event()

    def do_GET(self) -> None:
        if self.path.startswith("/drip/"):
            self.send_response(200)
            self.send_header("Content-Length", str(1024 * 1024))
            self.end_headers()
            try:
                while not self.stop.is_set():
                    self.wfile.write(b"x" * DRIP_BYTES_PER_SECOND)
                    self.wfile.flush()
                    self.stop.wait(1.0)
            except OSError:
                pass  # the client hung up: what a deadline does
            return
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.stop = threading.Event()
    _Handler.body, _Handler.status = b"", 200
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    _Handler.stop.set()
    httpd.shutdown()
    httpd.server_close()


def url_client(make_client: MakeClient, database_url: str, **settings: Any) -> TestClient:
    client = make_client(database_url, allow_url_registration=True, **settings)
    client.app.state.vidigest.downloads.allowed = loopback_too  # type: ignore[attr-defined]
    return client


def wait_for(client: TestClient, video_id: str, statuses: set[str], limit: float) -> Any:
    deadline = time.monotonic() + limit
    while True:
        video = client.get(f"/videos/{video_id}").json()
        if video["status"] in statuses or time.monotonic() > deadline:
            return video
        time.sleep(0.1)


@pytest.fixture(scope="module")
def media_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real (short) audio file: a download is probed like an upload before it is queued."""
    return tone(tmp_path_factory.mktemp("media"), seconds=1.0).read_bytes()


def test_url_registration_answers_at_once_and_downloads_in_the_background(
    make_client: MakeClient, backend: str, server: str, media_bytes: bytes
) -> None:
    _Handler.body = media_bytes
    client = url_client(make_client, backend)
    created = client.post("/videos", json={"url": f"{server}/file/talk.mp4", "language": "en"})
    assert created.status_code == 202, created.text
    assert (created.json()["status"], created.json()["filename"]) == ("DOWNLOADING", "talk.mp4")
    video = wait_for(client, created.json()["id"], {"REGISTERED", "FAILED"}, 30)
    assert video["status"] == "REGISTERED", video
    assert video["size_bytes"] == len(_Handler.body) and video["language"] == "en"
    media = client.get(f"/videos/{video['id']}/media")
    assert media.status_code == 200 and media.content == _Handler.body
    log = client.get(f"/videos/{video['id']}/status-log").json()
    assert [(e["from_status"], e["to_status"]) for e in log] == [
        (None, "DOWNLOADING"),
        ("DOWNLOADING", "REGISTERED"),
    ]
    database = Database(backend)
    try:
        with database.session() as session:
            events = session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.aggregate_id == video["id"])
            )
        assert events == 1  # video.registered, written with REGISTERED
    finally:
        database.dispose()


def test_a_dripping_server_cannot_outlast_the_deadline(
    make_client: MakeClient, sqlite_url: str, server: str
) -> None:
    """Regression: each read used to wait for a whole 256 KiB chunk, so 2 bytes a second kept
    a download with a 5 s limit alive for minutes."""
    client = url_client(make_client, sqlite_url, url_timeout_seconds=2)
    started = time.monotonic()
    created = client.post("/videos", json={"url": f"{server}/drip/slow.mp4"})
    assert created.status_code == 202, created.text
    video = wait_for(client, created.json()["id"], {"FAILED", "REGISTERED"}, 60)
    elapsed = time.monotonic() - started
    assert video["status"] == "FAILED", video
    assert video["error"] == "download failed: the download took longer than 2s"
    assert elapsed < 2 + 10, elapsed  # the deadline, plus the time to notice and record it


def test_requests_are_answered_while_downloads_drip_and_shutdown_cancels_them(
    tmp_path: Path, sqlite_url: str, server: str
) -> None:
    settings = api_settings(
        tmp_path / "data",
        sqlite_url,
        allow_url_registration=True,
        url_timeout_seconds=600,
        url_download_workers=2,
        url_download_queue=4,
    )
    app = create_app(settings, run_workers=False)
    app.state.vidigest.downloads.allowed = loopback_too
    ids = []
    with TestClient(app) as client:
        for n in range(6):
            began = time.monotonic()
            created = client.post("/videos", json={"url": f"{server}/drip/{n}.mp4"})
            assert created.status_code == 202, created.text
            assert time.monotonic() - began < 5  # registration never waits for the download
            ids.append(created.json()["id"])
        busy = client.post("/videos", json={"url": f"{server}/drip/one-too-many.mp4"})
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "busy"
        for path in ("/health/live", "/videos", f"/videos/{ids[0]}"):
            began = time.monotonic()
            assert client.get(path).status_code == 200
            assert time.monotonic() - began < 5, path
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 15  # not the 600 s of the downloads' deadline
    database = Database(sqlite_url)
    try:
        with database.session() as session:
            rows = session.scalars(select(Video).where(Video.id.in_(ids))).all()
        assert {(v.status, v.error) for v in rows} == {
            ("FAILED", "download interrupted: the server stopped; retry to download it again")
        }
    finally:
        database.dispose()


def test_a_download_left_by_a_dead_process_is_failed_at_start(
    make_client: MakeClient, sqlite_url: str, tmp_path: Path
) -> None:
    database = Database(sqlite_url)
    upgrade(database.engine)
    try:
        with database.session() as session:
            abandoned = VideoService(session).register_download(
                url="http://example.com/a.mp4", filename="a.mp4"
            )
            fresh = VideoService(session).register_download(
                url="http://example.com/b.mp4", filename="b.mp4"
            )
        with database.session() as session:
            session.execute(
                update(Video)
                .where(Video.id == abandoned.id)
                .values(updated_at=utcnow() - timedelta(hours=1))
            )
    finally:
        database.dispose()
    client = make_client(sqlite_url, allow_url_registration=True)
    old = client.get(f"/videos/{abandoned.id}").json()
    assert old["status"] == "FAILED" and old["error"].startswith("download interrupted")
    # one another server may still be downloading (it heartbeats it): left alone
    assert client.get(f"/videos/{fresh.id}").json()["status"] == "DOWNLOADING"


def test_a_download_that_is_not_media_fails_with_a_reason(
    make_client: MakeClient, sqlite_url: str, server: str
) -> None:
    _Handler.body = b"<html>not media</html>" * 100
    client = url_client(make_client, sqlite_url)
    created = client.post("/videos", json={"url": f"{server}/file/page.mp4"})
    assert created.status_code == 202, created.text
    video = wait_for(client, created.json()["id"], {"FAILED", "REGISTERED"}, 30)
    assert video["status"] == "FAILED", video
    assert video["error"].startswith("the downloaded file cannot be used: ")
    assert "/" not in video["error"]  # no server path
    assert not list((Path(client.app.state.vidigest.settings.storage_dir)).rglob("page.mp4"))  # type: ignore[attr-defined]


def test_retry_of_a_failed_download_downloads_again(
    make_client: MakeClient, backend: str, server: str, media_bytes: bytes
) -> None:
    client = url_client(make_client, backend)
    _Handler.status = 404
    created = client.post("/videos", json={"url": f"{server}/file/late.mp4"})
    assert created.status_code == 202, created.text
    video_id = created.json()["id"]
    failed = wait_for(client, video_id, {"FAILED", "REGISTERED"}, 30)
    assert failed["error"] == "download failed: the URL answered HTTP 404"
    _Handler.status, _Handler.body = 200, media_bytes
    retried = client.post(f"/videos/{video_id}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "DOWNLOADING"
    done = wait_for(client, video_id, {"FAILED", "REGISTERED"}, 30)
    assert done["status"] == "REGISTERED", done
    assert client.get(f"/videos/{video_id}/media").content == media_bytes
    log = [e["to_status"] for e in client.get(f"/videos/{video_id}/status-log").json()]
    assert log == ["DOWNLOADING", "FAILED", "DOWNLOADING", "REGISTERED"]
