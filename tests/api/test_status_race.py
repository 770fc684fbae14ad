"""Retry and delete race (issue 10, finding 4): many requests at once on one video, against
SQLite and PostgreSQL (where the threads really run the UPDATEs concurrently). Exactly one
retry wins; the status log holds only moves the status table allows."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select

from tests.support.api import MakeClient
from vidigest.common.constants import ALLOWED_TRANSITIONS, INITIAL_STATUSES, EventType, VideoStatus
from vidigest.database.session import Database
from vidigest.messaging.models import OutboxEvent
from vidigest.modules.videos.models import VideoStatusLog
from vidigest.modules.videos.service import VideoService

CONCURRENT = 20


def _failed_video(database_url: str, media: Path) -> str:
    database = Database(database_url)
    try:
        with database.session() as session:
            service = VideoService(session)
            video = service.register(media_path=media, source_type="path", source_uri=media.name)
            service.fail(video.id, "transcription", "transcription failed: out of memory")
        return video.id
    finally:
        database.dispose()


def _legal(database_url: str, video_id: str) -> list[tuple[str | None, str]]:
    database = Database(database_url)
    try:
        with database.session() as session:
            moves = session.execute(
                select(VideoStatusLog.from_status, VideoStatusLog.to_status)
                .where(VideoStatusLog.video_id == video_id)
                .order_by(VideoStatusLog.id)
            ).all()
            registered = session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.aggregate_id == video_id)
                .where(OutboxEvent.event_type == EventType.VIDEO_REGISTERED.value)
            )
    finally:
        database.dispose()
    for before, after in moves:
        if before is None:
            assert VideoStatus(after) in INITIAL_STATUSES
        else:
            assert VideoStatus(after) in ALLOWED_TRANSITIONS[VideoStatus(before)], (before, after)
    assert registered == 2  # the registration's and the one accepted retry's
    return [(str(b) if b else None, str(a)) for b, a in moves]


def test_concurrent_retries_accept_exactly_one(
    make_client: MakeClient, backend: str, tmp_path: Path
) -> None:
    media = tmp_path / "talk.mp4"
    media.write_bytes(b"x")
    client = make_client(backend)  # migrates a new database
    video_id = _failed_video(backend, media)
    barrier = threading.Barrier(CONCURRENT)

    def retry(_: int) -> tuple[int, str]:
        barrier.wait(30)
        response = client.post(f"/videos/{video_id}/retry")
        body = response.json()
        return response.status_code, (body.get("error") or {}).get("code", "")

    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(retry, range(CONCURRENT)))
    assert sorted(answers) == [(202, "")] + [(409, "conflict")] * (CONCURRENT - 1), answers
    assert _legal(backend, video_id) == [
        (None, "REGISTERED"),
        ("REGISTERED", "FAILED"),
        ("FAILED", "REGISTERED"),
    ]


def test_delete_and_retry_at_once_never_both_win(
    make_client: MakeClient, backend: str, tmp_path: Path
) -> None:
    media = tmp_path / "talk.mp4"
    media.write_bytes(b"x")
    client = make_client(backend)  # migrates a new database
    video_id = _failed_video(backend, media)
    barrier = threading.Barrier(2)

    def call(method: str) -> int:
        barrier.wait(30)
        if method == "delete":
            return client.delete(f"/videos/{video_id}").status_code
        return client.post(f"/videos/{video_id}/retry").status_code

    with ThreadPoolExecutor(2) as pool:
        deleted, retried = pool.map(call, ["delete", "retry"])
    assert (deleted, retried) in {(204, 404), (204, 409), (409, 202)}, (deleted, retried)
    status = client.get(f"/videos/{video_id}")
    assert status.status_code == (404 if deleted == 204 else 200)
