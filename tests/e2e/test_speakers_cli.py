"""`vidigest speakers` and `vidigest voices` as a user runs them (a subprocess over a data
directory), and `process --out` files naming the speakers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import vidigest_cli
from tests.support.speakers import diarized_video
from vidigest.app import open_database
from vidigest.config import Settings
from vidigest.export import write_outputs


def seeded(data_dir: Path) -> str:
    settings = Settings(data_dir=data_dir)
    open_database(settings, migrate=True).dispose()
    return diarized_video(settings.resolved_database_url)


def test_speakers_and_voices_commands(tmp_path: Path) -> None:
    video_id = seeded(tmp_path)
    listed = vidigest_cli("speakers", "list", video_id, data_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "SPEAKER_1" in listed.stdout and "(Speaker 2)" in listed.stdout

    renamed = vidigest_cli("speakers", "rename", video_id, "SPEAKER_2", "Grace", data_dir=tmp_path)
    assert (renamed.returncode, renamed.stdout.strip()) == (0, "SPEAKER_2: Grace")
    bad = vidigest_cli("speakers", "rename", video_id, "SPEAKER_2", "a\tb", data_dir=tmp_path)
    assert bad.returncode == 1
    assert (
        bad.stderr.strip()
        == "vidigest: error: a name must not contain control characters or line breaks"
    )
    unknown = vidigest_cli("speakers", "rename", video_id, "SPEAKER_9", "X", data_dir=tmp_path)
    assert unknown.returncode == 1 and "has no speaker 'SPEAKER_9'" in unknown.stderr

    saved = vidigest_cli("voices", "save", video_id, "SPEAKER_1", "Ada", data_dir=tmp_path)
    assert saved.returncode == 0, saved.stderr
    voice_id, name = saved.stdout.split()
    assert name == "Ada"
    no_voice = vidigest_cli("voices", "save", video_id, "SPEAKER_2", "Grace", data_dir=tmp_path)
    assert no_voice.returncode == 1 and "no voice embedding" in no_voice.stderr
    assert "Ada" in vidigest_cli("voices", "list", data_dir=tmp_path).stdout
    deleted = vidigest_cli("voices", "delete", voice_id, data_dir=tmp_path)
    assert deleted.returncode == 0, deleted.stderr
    assert "Ada" not in vidigest_cli("voices", "list", data_dir=tmp_path).stdout


def test_bad_speaker_options_fail_before_any_work(tmp_path: Path) -> None:
    missing = tmp_path / "not-there.mp4"  # never opened: the options are refused first
    for args, message in (
        (("--speakers", "many"), "speakers must be auto, off or a count"),
        (("--speakers", "2", "--min-speakers", "2"), "hints for speakers=auto"),
        (("--min-speakers", "3", "--max-speakers", "2"), "is above max_speakers"),
    ):
        result = vidigest_cli("process", str(missing), *args, data_dir=tmp_path)
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("vidigest: error: ") and message in result.stderr


def test_output_files_name_the_speakers(tmp_path: Path) -> None:
    video_id = seeded(tmp_path / "data")
    assert (
        vidigest_cli(
            "speakers", "rename", video_id, "SPEAKER_1", "Ada", data_dir=tmp_path / "data"
        ).returncode
        == 0
    )
    database = open_database(Settings(data_dir=tmp_path / "data"), migrate=False)
    try:
        result = write_outputs(database.session_factory, video_id, tmp_path / "out")
    finally:
        database.dispose()
    out = tmp_path / "out"
    assert len(result.files) == 6
    assert (out / "transcript.txt").read_text().startswith("Ada: Welcome to the penguin panel.\n")
    assert "\nAda: Welcome" in (out / "transcript.srt").read_text()
    assert "<v Ada>Welcome" in (out / "transcript.vtt").read_text()
    data = json.loads((out / "transcript.json").read_text())
    assert data["speakers"][0]["display_name"] == "Ada"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["chapters"][0]["speakers"] == ["Ada", "Speaker 2"]
    assert "- [00:04] Speaker 2: Thanks for having me." in (out / "summary.md").read_text()
