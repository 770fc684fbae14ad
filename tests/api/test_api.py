"""The HTTP API against a real database (SQLite and PostgreSQL): registration from every source
and its refusals, listing and sorting, auth, errors, retry/delete, search, health and metrics."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.support import media
from tests.support.api import MakeClient, api_settings, assert_error, stored_files, upload
from tests.support.search import encoder
from vidigest.common.constants import EventType
from vidigest.common.types import Segment, Transcript
from vidigest.database.session import Database, db_session_context
from vidigest.http.main import create_app
from vidigest.messaging.models import OutboxEvent
from vidigest.modules.search.index import reindex_video
from vidigest.modules.transcription.models import TranscriptRecord, TranscriptSegment
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.service import VideoService


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short spoken clip (espeak-ng), as m4a."""
    directory = tmp_path_factory.mktemp("clip")
    text = "The library opens at nine. Volunteers sort the donated books every morning."
    return media.speech(directory, text, fmt="m4a")


# --- registration: uploads -----------------------------------------------------------------------


def test_oversize_upload_is_refused_and_nothing_is_kept(
    make_client: MakeClient, sqlite_url: str, tmp_path: Path
) -> None:
    client = make_client(sqlite_url, max_upload_bytes=10_000)
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * 50_000)
    assert_error(upload(client, big), 413, "payload_too_large")

    # without Content-Length (chunked): the stream is cut once past the limit
    def body() -> Iterator[bytes]:
        boundary = b"--xyz"
        yield (
            boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        )
        for _ in range(100):
            yield b"\0" * 1000
        yield b"\r\n" + boundary + b"--\r\n"

    response = client.post(
        "/videos", content=body(), headers={"Content-Type": "multipart/form-data; boundary=xyz"}
    )
    assert_error(response, 413, "payload_too_large")
    assert stored_files(tmp_path / "data") == []
    assert client.get("/videos").json()["total"] == 0


def test_non_media_upload_is_refused_415(
    make_client: MakeClient, sqlite_url: str, tmp_path: Path
) -> None:
    client = make_client(sqlite_url)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 100)
    error = assert_error(upload(client, text), 415, "unsupported_media_type")
    assert str(tmp_path) not in error["message"]  # no server path in the answer
    silent_video = media.video_without_audio(tmp_path)
    assert "no audio" in assert_error(upload(client, silent_video), 415)["message"]
    assert stored_files(tmp_path / "data") == []
    assert client.get("/videos").json()["total"] == 0


def test_upload_form_errors(make_client: MakeClient, sqlite_url: str, clip: Path) -> None:
    client = make_client(sqlite_url)
    no_file = client.post("/videos", files={"language": (None, "en")})
    assert_error(no_file, 422, "validation_error")
    assert_error(client.post("/videos", data={"language": "en"}), 415)  # urlencoded form
    assert_error(upload(client, clip, language="not a language"), 422, "validation_error")
    assert_error(upload(client, clip, model="/etc/passwd"), 422, "validation_error")
    assert_error(client.post("/videos", content=b"x", headers={"Content-Type": "text/plain"}), 415)
    assert client.get("/videos").json()["total"] == 0


# --- registration: server paths and URLs ---------------------------------------------------------


def test_path_registration_is_off_by_default(
    make_client: MakeClient, sqlite_url: str, clip: Path
) -> None:
    client = make_client(sqlite_url)
    assert_error(client.post("/videos", json={"path": str(clip)}), 403, "forbidden")


def test_path_registration_refuses_traversal_and_symlinks_out(
    make_client: MakeClient, sqlite_url: str, clip: Path, tmp_path: Path
) -> None:
    root = tmp_path / "library"
    (root / "talks").mkdir(parents=True)
    inside = root / "talks" / "clip.m4a"
    inside.write_bytes(clip.read_bytes())
    outside = tmp_path / "secret.m4a"
    outside.write_bytes(clip.read_bytes())
    (root / "link.m4a").symlink_to(outside)
    client = make_client(sqlite_url, allow_path_registration=True, path_roots=str(root))

    for refused in (
        str(root / "talks" / ".." / ".." / "secret.m4a"),
        "talks/../../secret.m4a",
        str(root / "link.m4a"),  # a symlink inside the root to a file outside it
        str(outside),
        "/etc/passwd",
    ):
        error = assert_error(client.post("/videos", json={"path": refused}), 403, "forbidden")
        assert "outside the allowed roots" in error["message"]
    assert_error(client.post("/videos", json={"path": "talks/missing.m4a"}), 404)
    assert_error(client.post("/videos", json={"path": str(root / "talks")}), 404)

    created = client.post("/videos", json={"path": "talks/clip.m4a", "language": "en"})
    assert created.status_code == 201, created.text
    video = created.json()
    assert (video["source_type"], video["language"], video["status"]) == (
        "path",
        "en",
        "REGISTERED",
    )
    # what was checked is kept: linked (or copied) into storage, the original left in place
    (stored,) = stored_files(tmp_path / "data")
    assert stored.read_bytes() == inside.read_bytes() and inside.is_file()
    assert client.delete(f"/videos/{video['id']}").status_code == 409  # still REGISTERED


def test_path_and_url_together_or_neither_is_422(make_client: MakeClient, sqlite_url: str) -> None:
    client = make_client(sqlite_url)
    assert_error(client.post("/videos", json={}), 422, "validation_error")
    both = {"path": "a.mp4", "url": "http://example.com/a.mp4"}
    assert_error(client.post("/videos", json=both), 422, "validation_error")
    assert_error(
        client.post("/videos", content=b"{", headers={"Content-Type": "application/json"}), 422
    )


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"data")

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def local_http_server() -> Iterator[str]:
    _CountingHandler.hits = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_registration_refuses_loopback_before_connecting(
    make_client: MakeClient, sqlite_url: str, local_http_server: str, tmp_path: Path
) -> None:
    off = make_client(sqlite_url)
    assert_error(off.post("/videos", json={"url": f"{local_http_server}/a.mp4"}), 403)

    client = make_client(sqlite_url, allow_url_registration=True)
    port = local_http_server.rsplit(":", 1)[1]
    for url in (
        f"{local_http_server}/talk.mp4",
        f"http://localhost:{port}/talk.mp4",
        f"http://[::ffff:127.0.0.1]:{port}/talk.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/video.mp4",
    ):
        error = assert_error(client.post("/videos", json={"url": url}), 403, "forbidden")
        assert "not a public address" in error["message"]
    for url in ("file:///etc/passwd", "ftp://example.com/a.mp4", "http://user:pw@example.com/a"):
        assert_error(client.post("/videos", json={"url": url}), 422, "bad_url")
    assert _CountingHandler.hits == 0  # refused by policy, never fetched
    assert stored_files(tmp_path / "data") == []


# --- reading -------------------------------------------------------------------------------------


def _register_rows(database_url: str, names: list[str], tmp_path: Path) -> list[str]:
    database = Database(database_url)
    ids = []
    try:
        for name in names:
            with db_session_context(database.session_factory) as session:
                ids.append(
                    VideoService(session)
                    .register(media_path=tmp_path / name, source_type="path", source_uri=name)
                    .id
                )
            time.sleep(0.01)  # distinct created_at
    finally:
        database.dispose()
    return ids


def test_list_filter_sort_and_bad_sort(
    make_client: MakeClient, backend: str, tmp_path: Path
) -> None:
    client = make_client(backend)
    ids = _register_rows(backend, ["b.mp4", "a.mp4", "c.mp4"], tmp_path)
    newest_first = client.get("/videos", params={"sort": "created_at DESC"}).json()
    assert [v["id"] for v in newest_first["items"]] == ids[::-1]
    assert newest_first["total"] == 3
    by_name = client.get("/videos", params={"sort": "FileName asc", "limit": 2, "offset": 1})
    assert [v["filename"] for v in by_name.json()["items"]] == ["b.mp4", "c.mp4"]
    assert client.get("/videos", params={"status": "FAILED"}).json()["total"] == 0
    assert client.get("/videos", params={"status": "REGISTERED"}).json()["total"] == 3

    for bad in ("bogus", "created_at DESC; DROP TABLE videos", "created_at sideways", "1"):
        error = assert_error(client.get("/videos", params={"sort": bad}), 422, "invalid_query")
        assert "order_by" in error["message"] or "unknown column" in error["message"]
    assert_error(client.get("/videos", params={"status": "DONE"}), 422, "validation_error")
    assert_error(client.get("/videos", params={"limit": 0}), 422, "validation_error")
    assert client.get("/videos").json()["total"] == 3  # still there


def test_unknown_ids_and_routes_answer_json_errors(make_client: MakeClient, backend: str) -> None:
    client = make_client(backend)
    missing = "00000000-0000-0000-0000-000000000000"
    for method, path in (
        ("GET", f"/videos/{missing}"),
        ("GET", f"/videos/{missing}/status-log"),
        ("GET", f"/videos/{missing}/transcript"),
        ("GET", f"/videos/{missing}/summary"),
        ("GET", f"/videos/{missing}/media"),
        ("POST", f"/videos/{missing}/retry"),
        ("DELETE", f"/videos/{missing}"),
        ("GET", "/no/such/route"),
    ):
        assert_error(client.request(method, path), 404, "not_found")
    assert_error(client.put("/videos"), 405, "method_not_allowed")
    assert_error(client.get("/videos/x/transcript", params={"format": "doc"}), 422)
    assert_error(client.get("/search"), 422, "validation_error")


# --- auth ----------------------------------------------------------------------------------------


def test_api_keys(make_client: MakeClient, sqlite_url: str, clip: Path) -> None:
    client = make_client(sqlite_url, api_keys="first-key, second-key")
    assert_error(client.get("/videos"), 401, "unauthorized")
    assert_error(client.get("/videos", headers={"X-API-Key": "wrong"}), 401)
    assert_error(client.get("/videos", headers={"X-API-Key": "first-key-and-more"}), 401)
    assert_error(upload(client, clip), 401)
    assert_error(client.get("/search", params={"q": "x"}), 401)
    assert client.get("/videos", headers={"X-API-Key": "second-key"}).status_code == 200
    # no auth: probes, scrapers and the UI page (which holds no data)
    for open_path in ("/health/live", "/health/ready", "/metrics", "/", "/static/app.js"):
        assert client.get(open_path).status_code == 200, open_path
    # the cookie works for GET (media links) and never for writes
    client.cookies.set("vidigest_api_key", "first-key")
    assert client.get("/videos").status_code == 200
    assert_error(client.post("/videos/x/retry"), 401)
    client.cookies.clear()
    assert_error(client.get("/videos"), 401)


# --- retry, delete and search over stored transcripts --------------------------------------------


def _failed_video_with_partial_transcript(database_url: str, media_path: Path) -> str:
    database = Database(database_url)
    try:
        with db_session_context(database.session_factory) as session:
            service = VideoService(session)
            video = service.register(
                media_path=media_path, source_type="upload", source_uri=media_path.name
            )
            segments = (
                Segment(index=0, start=0.0, end=2.0, text="zebras crossing the savanna"),
                Segment(index=1, start=2.0, end=4.5, text="penguins in the antarctic"),
            )
            transcript = Transcript(
                language="en",
                language_probability=1.0,
                duration=4.5,
                model="test",
                segments=segments,
            )
            TranscriptService(session).save(video.id, transcript)
            reindex_video(session, video.id, encoder())  # as the indexing stage does
            service.fail(video.id, "summary", "summary failed: disk full")
        return video.id
    finally:
        database.dispose()


def test_search_then_retry_clears_results_and_requeues(
    make_client: MakeClient, backend: str, tmp_path: Path, clip: Path
) -> None:
    client = make_client(backend)
    stored = tmp_path / "data" / "media" / "one" / "clip.m4a"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(clip.read_bytes())
    video_id = _failed_video_with_partial_transcript(backend, stored)

    video = client.get(f"/videos/{video_id}").json()
    assert (video["status"], video["error"]) == ("FAILED", "summary failed: disk full")
    hits = client.get("/search", params={"q": "penguins", "mode": "keyword"}).json()["results"]
    passage = "zebras crossing the savanna penguins in the antarctic"  # both segments
    assert [(h["video_id"], h["start"], h["end"], h["text"]) for h in hits] == [
        (video_id, 0.0, 4.5, passage)
    ]
    assert hits[0]["link"] == f"/#/videos/{video_id}?t=0"
    assert client.get("/search", params={"q": "zebra"}).json()["results"][0]["start"] == 0.0
    assert client.get("/search", params={"q": 'zebras" OR *'}).status_code == 200
    nothing = client.get("/search", params={"q": "giraffes", "mode": "keyword"}).json()
    assert nothing["results"] == []
    assert_error(client.get(f"/videos/{video_id}/summary"), 404)

    retried = client.post(f"/videos/{video_id}/retry")
    assert retried.status_code == 202, retried.text
    assert (retried.json()["status"], retried.json()["error"]) == ("REGISTERED", None)
    assert_error(client.post(f"/videos/{video_id}/retry"), 409, "conflict")  # not FAILED now
    for mode in ("keyword", "hybrid"):  # the retry cleared the passages with the transcript
        found = client.get("/search", params={"q": "penguins", "mode": mode}).json()
        assert found["results"] == []
    assert_error(client.get(f"/videos/{video_id}/transcript"), 404)
    log = client.get(f"/videos/{video_id}/status-log").json()
    assert [e["to_status"] for e in log] == ["REGISTERED", "FAILED", "REGISTERED"]
    assert log[-1]["reason"] == "retry requested"

    database = Database(backend)
    try:
        with db_session_context(database.session_factory) as session:
            registered = session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.aggregate_id == video_id)
                .where(OutboxEvent.event_type == EventType.VIDEO_REGISTERED.value)
            )
            assert registered == 2
            assert session.scalar(select(func.count()).select_from(TranscriptRecord)) == 0
            assert session.scalar(select(func.count()).select_from(TranscriptSegment)) == 0
    finally:
        database.dispose()

    assert_error(client.delete(f"/videos/{video_id}"), 409)  # queued: a worker may be on it
    with db_session_context(Database(backend).session_factory) as session:
        VideoService(session).fail(video_id, "transcription", "gave up")
    assert client.delete(f"/videos/{video_id}").status_code == 204
    assert not stored.exists() and not stored.parent.exists()
    assert_error(client.get(f"/videos/{video_id}"), 404)


# --- the whole way, with the real models ---------------------------------------------------------


@pytest.mark.slow
def test_upload_to_completed(
    make_client: MakeClient, backend: str, clip: Path, tmp_path: Path
) -> None:
    client = make_client(backend, run_workers=True)
    created = upload(client, clip, language="en")
    assert created.status_code == 201, created.text
    video = created.json()
    assert video["status"] == "REGISTERED" and video["size_bytes"] == clip.stat().st_size
    # requests are answered while the workers run
    deadline = time.monotonic() + 240
    seen = set()
    while video["status"] not in ("COMPLETED", "FAILED") and time.monotonic() < deadline:
        time.sleep(0.3)
        video = client.get(f"/videos/{video['id']}").json()
        seen.add(video["status"])
    assert video["status"] == "COMPLETED", video
    assert video["progress"] == 100.0 and video["duration"] > 2
    # the language it was transcribed in and the model that did it (not the preset asked for)
    assert video["language"] == "en" and video["model"] == "whisper-tiny.en", video
    assert video["eta_seconds"] is None
    video_id = video["id"]

    transcript = client.get(f"/videos/{video_id}/transcript").json()
    assert "library" in transcript["text"].lower() and transcript["segments"]
    srt = client.get(f"/videos/{video_id}/transcript", params={"format": "srt"})
    assert srt.headers["content-type"].startswith("application/x-subrip")
    assert "-->" in srt.text and srt.text.startswith("1\n")
    vtt = client.get(f"/videos/{video_id}/transcript", params={"format": "vtt", "download": True})
    assert vtt.text.startswith("WEBVTT") and "attachment" in vtt.headers["content-disposition"]
    assert "library" in client.get(f"/videos/{video_id}/transcript?format=txt").text.lower()

    summary = client.get(f"/videos/{video_id}/summary").json()
    assert summary["abstract"] and summary["chapters"] and summary["keywords"]
    hits = client.get("/search", params={"q": "volunteers books"}).json()["results"]
    assert hits and hits[0]["video_id"] == video_id and "books" in hits[0]["text"].lower()

    statuses = [e["to_status"] for e in client.get(f"/videos/{video_id}/status-log").json()]
    assert statuses == ["REGISTERED", "TRANSCRIBING", "TRANSCRIBED", "SUMMARIZING", "COMPLETED"]

    head = client.get(f"/videos/{video_id}/media", headers={"Range": "bytes=0-99"})
    assert head.status_code == 206 and head.content == clip.read_bytes()[:100]
    assert head.headers["content-range"] == f"bytes 0-99/{clip.stat().st_size}"

    assert client.delete(f"/videos/{video_id}").status_code == 204
    assert stored_files(tmp_path / "data") == []
    assert client.get("/search", params={"q": "volunteers"}).json()["results"] == []
    assert client.get("/videos").json()["total"] == 0


# --- health and metrics --------------------------------------------------------------------------


def test_readiness_names_the_failed_dependency(tmp_path: Path, sqlite_url: str) -> None:
    ok = create_app(api_settings(tmp_path / "ok", sqlite_url), run_workers=False)
    with TestClient(ok) as client:
        assert client.get("/health/live").json()["status"] == "ok"
        ready = client.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["checks"][0]["name"] == "database"

    # distributed mode: no database server and no broker behind these ports
    settings = api_settings(
        tmp_path / "down",
        "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2",
        kafka_bootstrap="127.0.0.1:1",
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/health/live").status_code == 200
        error = assert_error(client.get("/health/ready"), 503, "not_ready")
        assert (
            "database unavailable" in error["message"] and "kafka unavailable" in error["message"]
        )


def test_metrics_count_requests_per_route(make_client: MakeClient, sqlite_url: str) -> None:
    client = make_client(sqlite_url)
    for _ in range(3):
        client.get("/videos/abc")
    text = client.get("/metrics").text
    line = 'vidigest_http_requests_total{method="GET",route="/videos/{video_id}",status="404"}'
    count = next(float(row.split()[-1]) for row in text.splitlines() if row.startswith(line))
    assert count >= 3
    assert "vidigest_http_request_duration_seconds_bucket" in text


_METRICS_CHILD = textwrap.dedent(
    """
    import sys
    from fastapi.testclient import TestClient
    from vidigest.config import Settings
    from vidigest.http.main import create_app

    settings = Settings(
        data_dir=sys.argv[1],
        database_url=sys.argv[2],
        kafka_bootstrap=None,
        allowed_hosts="testserver",
    )
    with TestClient(create_app(settings, run_workers=False)) as client:
        for _ in range(int(sys.argv[3])):
            assert client.get("/health/live").status_code == 200
        if sys.argv[4] == "scrape":
            print(client.get("/metrics").text)
    """
)


def test_metrics_in_multiprocess_mode(tmp_path: Path, sqlite_url: str) -> None:
    """Two processes count into PROMETHEUS_MULTIPROC_DIR; /metrics of either shows the sum."""
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    data = str(tmp_path / "data")

    def child(count: int, mode: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", _METRICS_CHILD, data, sqlite_url, str(count), mode],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    child(3, "count")
    text = child(2, "scrape")
    line = 'vidigest_http_requests_total{method="GET",route="/health/live",status="200"}'
    total = next(float(row.split()[-1]) for row in text.splitlines() if row.startswith(line))
    assert total == 5.0
