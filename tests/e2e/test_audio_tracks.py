"""Choosing the audio track: the command line, the stored video, the event, the worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support import media
from tests.support.wer import normalize
from vidigest.app import Vidigest
from vidigest.common.types import VideoRegistered
from vidigest.config import Settings
from vidigest.messaging.models import OutboxEvent
from vidigest.modules.transcription.service import load_transcript
from vidigest.modules.videos.models import Video

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_tracks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tracks")
    one = media.speech(directory, "Honey bees collect nectar from flowers.")
    two = media.speech(directory, "Magma rises through the crust of the earth.")
    return media.two_audio_tracks(directory, one, two)


def cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIDIGEST_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "vidigest", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_transcribe_a_chosen_track(two_tracks: Path, tmp_path: Path) -> None:
    second = cli("transcribe", str(two_tracks), "--audio-track", "1", data_dir=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "earth" in normalize(second.stdout) and "flowers" not in normalize(second.stdout)
    missing = cli("transcribe", str(two_tracks), "--audio-track", "2", data_dir=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"vidigest: error: {two_tracks} has 2 audio stream(s): --audio-track 2 is not one"
    ]


def test_the_track_is_stored_and_carried_to_the_worker(two_tracks: Path, tmp_path: Path) -> None:
    vidigest = Vidigest.open(Settings(data_dir=tmp_path / "data"))
    try:
        first = vidigest.register_path(two_tracks)
        second = vidigest.register_path(two_tracks, audio_track=1)
        vidigest.embedded_runtime().run_until_idle()
        sf = vidigest.database.session_factory
        texts = {v.id: normalize(load_transcript(sf, v.id).text) for v in (first, second)}
        with vidigest.database.session() as session:
            tracks = {
                row.id: row.audio_track
                for row in session.execute(select(Video.id, Video.audio_track))
            }
            payloads = [
                row["payload"]
                for row in session.scalars(
                    select(OutboxEvent.payload).where(OutboxEvent.event_type == "video.registered")
                )
            ]
    finally:
        vidigest.close()
    assert tracks == {first.id: 0, second.id: 1}
    assert sorted(p["audio_track"] for p in payloads) == [0, 1]
    assert "flowers" in texts[first.id] and "earth" not in texts[first.id]
    assert "earth" in texts[second.id] and "flowers" not in texts[second.id]


def test_an_event_from_before_audio_tracks_still_validates() -> None:
    old = VideoRegistered.model_validate({"video_id": "v", "source_path": "/m.mp4"})
    assert old.audio_track == 0
