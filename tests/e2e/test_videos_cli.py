"""`vidigest videos cancel|retry|delete` as a user runs them (a subprocess over a data
directory, embedded: no worker runs, so a submitted video stays where it is put)."""

from __future__ import annotations

from pathlib import Path

from tests.support import media
from tests.support.cli import vidigest_cli
from vidigest.modules.videos.service import CANCELLED_REASON


def stored_media(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "media").rglob("*") if p.is_file()]


def test_cancel_retry_and_delete_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    submitted = vidigest_cli("submit", str(media.sample("librivox_speech.mp4")), data_dir=data)
    assert submitted.returncode == 0, submitted.stderr
    video_id = submitted.stdout.strip()
    assert len(stored_media(data)) == 1  # submit stored a copy

    refused = vidigest_cli("videos", "delete", video_id, data_dir=data)
    assert refused.returncode == 1 and "cancel it first" in refused.stderr

    cancelled = vidigest_cli("videos", "cancel", video_id, data_dir=data)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"FAILED: {CANCELLED_REASON}" in cancelled.stdout
    shown = vidigest_cli("videos", "show", video_id, data_dir=data).stdout
    assert "status: FAILED" in shown and CANCELLED_REASON in shown
    again = vidigest_cli("videos", "cancel", video_id, data_dir=data)
    assert again.returncode == 1 and "being processed" in again.stderr

    retried = vidigest_cli("videos", "retry", video_id, data_dir=data)
    assert retried.returncode == 0 and "REGISTERED" in retried.stdout, retried.stderr
    assert vidigest_cli("videos", "retry", video_id, data_dir=data).returncode == 1  # not FAILED

    assert vidigest_cli("videos", "cancel", video_id, data_dir=data).returncode == 0
    deleted = vidigest_cli("videos", "delete", video_id, data_dir=data)
    assert deleted.returncode == 0 and f"deleted {video_id}" in deleted.stdout, deleted.stderr
    assert stored_media(data) == []  # its stored file went with it
    gone = vidigest_cli("videos", "show", video_id, data_dir=data)
    assert gone.returncode == 1 and "not found" in gone.stderr.lower()
    unknown = vidigest_cli("videos", "cancel", "nope", data_dir=data)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
