"""What the video list (the queue) needs from the API, against a real database: names shown as
the user gave them, cancel (an idle video, and one a real worker is transcribing), the ETA, HEAD
on what browsers probe, and the favicon."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select

from tests.support import media
from tests.support.api import MakeClient, api_settings, assert_error, stored_files, upload
from tests.support.paths import SAMPLES
from vidigest.common.stages import TRANSCRIPTION
from vidigest.database.session import Database, db_session_context
from vidigest.messaging.models import ProcessedMessage
from vidigest.modules.transcription.models import TranscriptSegment
from vidigest.modules.videos.schemas import eta_seconds
from vidigest.modules.videos.service import CANCELLED_REASON

TALK = SAMPLES / "three_topics_talk.mp4"  # 2:53 of speech


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("clip")
    return media.speech(directory, "The queue shows every file.", fmt="m4a")


def test_names_are_shown_as_given_and_downloads_keep_them(
    make_client: MakeClient, backend: str, clip: Path, tmp_path: Path
) -> None:
    client = make_client(backend)
    name = "Q&A session (part 1) \u2013 Ärger's talk #2.m4a"
    created = client.post("/videos", files={"file": (name, clip.read_bytes())})
    assert created.status_code == 201, created.text
    video = created.json()
    assert video["filename"] == name
    assert client.get("/videos").json()["items"][0]["filename"] == name
    (stored,) = stored_files(tmp_path / "data")
    assert stored.name.endswith(".m4a") and "&" not in stored.name and "#" not in stored.name

    # the download keeps every letter: RFC 5987 filename* next to an ASCII fallback
    disposition = client.get(f"/videos/{video['id']}/media").headers["content-disposition"]
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == name

    long_name = "a" * 296 + ".m4a"  # 300 characters: cut, its extension kept
    created = client.post("/videos", files={"file": (long_name, clip.read_bytes())})
    assert created.status_code == 201, created.text
    shown = created.json()["filename"]
    assert shown.endswith(".m4a") and 100 < len(shown) <= 200

    # control and bidi-override characters are not part of a name
    created = client.post("/videos", files={"file": ("evil\u202egpj.m4a", clip.read_bytes())})
    assert created.json()["filename"] == "evil gpj.m4a"


def test_head_answers_where_get_does_and_there_is_a_favicon(
    make_client: MakeClient, sqlite_url: str, clip: Path
) -> None:
    client = make_client(sqlite_url)
    video_id = upload(client, clip).json()["id"]
    for path in ("/", f"/videos/{video_id}", f"/videos/{video_id}/media", "/favicon.ico"):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200, (path, head.status_code)
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
    icon = client.get("/favicon.ico")
    assert icon.headers["content-type"].startswith("image/svg+xml") and b"<svg" in icon.content
    assert client.head("/videos/nope").status_code == 404


def test_cancel_an_idle_video_then_delete_it(
    make_client: MakeClient, backend: str, clip: Path, tmp_path: Path
) -> None:
    client = make_client(backend)  # no workers: the video stays REGISTERED
    video_id = upload(client, clip).json()["id"]
    refused = client.delete(f"/videos/{video_id}")
    assert "cancel it first" in assert_error(refused, 409)["message"]

    cancelled = client.post(f"/videos/{video_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["error"]) == ("FAILED", CANCELLED_REASON)
    log = client.get(f"/videos/{video_id}/status-log").json()
    assert [(e["to_status"], e["reason"]) for e in log][-1] == ("FAILED", CANCELLED_REASON)
    again = assert_error(client.post(f"/videos/{video_id}/cancel"), 409)
    assert "being processed" in again["message"]
    assert_error(client.post("/videos/nope/cancel"), 404)

    # a cancelled video can be retried (queued again) or deleted
    assert client.post(f"/videos/{video_id}/retry").json()["status"] == "REGISTERED"
    assert client.post(f"/videos/{video_id}/cancel").json()["status"] == "FAILED"
    assert client.delete(f"/videos/{video_id}").status_code == 204
    assert stored_files(tmp_path / "data") == []


def test_cancel_stops_a_running_transcription(
    make_client: MakeClient, sqlite_url: str, tmp_path: Path
) -> None:
    """A real worker transcribing a 3-minute talk: cancelled, it stops at its next check and
    stores nothing (no segment, no summary), its message is recorded as skipped, the video
    stays FAILED "cancelled by the user" and can be deleted."""
    client = make_client(sqlite_url, run_workers=True, speakers="off")
    created = upload(client, TALK)
    assert created.status_code == 201, created.text
    video_id = created.json()["id"]
    deadline = time.monotonic() + 120
    while client.get(f"/videos/{video_id}").json()["status"] != "TRANSCRIBING":
        assert time.monotonic() < deadline, "transcription did not start"
        time.sleep(0.1)
    cancelled = client.post(f"/videos/{video_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text

    database = Database(api_settings(tmp_path / "data", sqlite_url).database_url)
    try:
        deadline = time.monotonic() + 240
        while True:  # the worker gives the message up as stale: skipped
            with db_session_context(database.session_factory) as session:
                outcomes = session.scalars(
                    select(ProcessedMessage.outcome).where(
                        ProcessedMessage.consumer == TRANSCRIPTION.consumer
                    )
                ).all()
            if outcomes:
                break
            assert time.monotonic() < deadline, "the worker did not stop"
            time.sleep(0.2)
        assert outcomes == ["skipped"]
        with db_session_context(database.session_factory) as session:
            assert session.scalar(select(func.count()).select_from(TranscriptSegment)) == 0
    finally:
        database.dispose()
    video = client.get(f"/videos/{video_id}").json()
    assert (video["status"], video["error"]) == ("FAILED", CANCELLED_REASON)
    statuses = [e["to_status"] for e in client.get(f"/videos/{video_id}/status-log").json()]
    assert statuses == ["REGISTERED", "TRANSCRIBING", "FAILED"]
    assert client.delete(f"/videos/{video_id}").status_code == 204


def test_eta_is_the_pace_so_far() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    started = now - timedelta(seconds=30)
    assert eta_seconds("TRANSCRIBING", 25.0, started, now) == 90.0  # 30 s for 25 %: 90 s more
    assert eta_seconds("SUMMARIZING", 50.0, started, now) == 30.0
    assert eta_seconds("TRANSCRIBING", 0.0, started, now) is None  # no pace yet
    assert eta_seconds("TRANSCRIBING", 100.0, started, now) is None
    assert eta_seconds("REGISTERED", 10.0, started, now) is None  # waiting: no stage running
    assert eta_seconds("COMPLETED", 50.0, started, now) is None
    assert eta_seconds("TRANSCRIBING", 50.0, None, now) is None
