"""The embedded pipeline end to end, with the real models: `vidigest process` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from tests.support import media
from tests.support.paths import SAMPLES
from tests.support.wer import wer
from vidigest.app import Vidigest
from vidigest.common.constants import VideoStatus
from vidigest.config import Settings
from vidigest.export import describe_video
from vidigest.messaging.models import OutboxEvent, ProcessedMessage
from vidigest.modules.summary.models import VideoSummaryRecord
from vidigest.modules.transcription.models import TranscriptRecord

pytestmark = pytest.mark.slow

TALK = SAMPLES / "three_topics_talk.mp4"


def vidigest_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIDIGEST_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "vidigest", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def processed_talk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`vidigest process` on the three-topic talk, run once for the tests below."""
    data_dir = tmp_path_factory.mktemp("data")
    out_dir = tmp_path_factory.mktemp("out") / "talk"
    result = vidigest_cli("process", str(TALK), "--out", str(out_dir), data_dir=data_dir)
    yield {"result": result, "out": out_dir, "data_dir": data_dir}


def test_process_writes_every_output(processed_talk: dict[str, Any]) -> None:
    result = processed_talk["result"]
    assert result.returncode == 0, result.stderr
    out: Path = processed_talk["out"]
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "transcript.json",
            "transcript.srt",
            "transcript.vtt",
            "transcript.txt",
            "summary.json",
            "summary.md",
        ]
    )
    transcript = json.loads((out / "transcript.json").read_text())
    segment = transcript["segments"][0]
    assert {"start", "end", "text", "words"} <= segment.keys()
    assert {"start", "end", "probability"} <= segment["words"][0].keys()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["abstract"] and summary["key_points"] and summary["keywords"]
    assert {"start", "end", "title", "summary"} <= summary["chapters"][0].keys()
    markdown = (out / "summary.md").read_text()
    assert "00:00 " in markdown and "## Key points" in markdown
    assert "COMPLETED" in result.stdout and str(out / "summary.md") in result.stdout


def test_chapters_start_near_the_true_topic_changes(processed_talk: dict[str, Any]) -> None:
    summary = json.loads((processed_talk["out"] / "summary.json").read_text())
    truth = json.loads((SAMPLES / "three_topics_talk.chapters.json").read_text())
    starts = [c["start"] for c in summary["chapters"]]
    assert starts[0] == 0.0
    for change in [t["start"] for t in truth[1:]]:
        nearest = min(starts[1:], key=lambda s: abs(s - change))
        assert abs(nearest - change) <= 15, (change, starts)
    assert len(starts) == len(truth), starts


def test_every_step_is_recorded_once(processed_talk: dict[str, Any]) -> None:
    settings = Settings(data_dir=processed_talk["data_dir"])
    vidigest = Vidigest.open(settings)
    try:
        with vidigest.database.session() as session:
            counts = {
                model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (TranscriptRecord, VideoSummaryRecord, ProcessedMessage)
            }
            events = session.execute(
                select(OutboxEvent.event_type, OutboxEvent.published_at).order_by(OutboxEvent.id)
            ).all()
            (video_id,) = session.scalars(select(TranscriptRecord.video_id)).all()
        described = describe_video(vidigest.database.session_factory, video_id)
    finally:
        vidigest.close()
    # one mark per stage, and the webhook fan-out's of summary.completed (no endpoint: no
    # delivery, but the event is handled)
    assert counts == {"transcripts": 1, "video_summaries": 1, "processed_messages": 3}
    assert [e.event_type for e in events] == [
        "video.registered",
        "transcription.completed",
        "summary.completed",
    ]
    assert all(e.published_at is not None for e in events)
    assert [h["to"] for h in described["history"]] == [
        "REGISTERED",
        "TRANSCRIBING",
        "TRANSCRIBED",
        "SUMMARIZING",
        "COMPLETED",
    ]
    assert described["status"] == "COMPLETED" and described["progress"] == 100.0


def test_videos_list_and_show_read_it_back(processed_talk: dict[str, Any]) -> None:
    data_dir = processed_talk["data_dir"]
    listing = vidigest_cli("videos", "list", data_dir=data_dir)
    assert listing.returncode == 0 and "COMPLETED" in listing.stdout
    settings = Settings(data_dir=data_dir)
    vidigest = Vidigest.open(settings)
    with vidigest.database.session() as session:
        (video_id,) = session.scalars(select(TranscriptRecord.video_id)).all()
    vidigest.close()
    shown = vidigest_cli("videos", "show", video_id, "--json", data_dir=data_dir)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "COMPLETED"


def _bad_inputs(directory: Path) -> dict[str, tuple[Path, str]]:
    return {
        "missing": (directory / "nowhere.mp4", "file not found: "),
        "no audio": (media.video_without_audio(directory), "no audio stream in "),
        "corrupt": (media.corrupt_random_mp4(directory), "cannot decode "),
        "truncated": (media.truncated_mp4(directory, TALK, keep=0.3), "cannot decode "),
    }


@pytest.mark.parametrize("case", ["missing", "no audio", "corrupt", "truncated"])
def test_bad_files_fail_with_one_clear_line_and_a_failed_status(tmp_path: Path, case: str) -> None:
    path, expected = _bad_inputs(tmp_path)[case]
    data_dir, out_dir = tmp_path / "data", tmp_path / "out"
    result = vidigest_cli("process", str(path), "--out", str(out_dir), data_dir=data_dir)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidigest: error: transcription failed: ")
    assert expected in lines[0]
    assert not out_dir.exists()  # nothing half-written
    vidigest = Vidigest.open(Settings(data_dir=data_dir))
    try:
        with vidigest.database.session() as session:
            (video_id,) = session.scalars(
                select(TranscriptRecord.video_id).union_all(
                    select(OutboxEvent.aggregate_id).where(OutboxEvent.event_type == "video.failed")
                )
            ).all()
            assert session.scalar(select(func.count()).select_from(TranscriptRecord)) == 0
        described = describe_video(vidigest.database.session_factory, video_id)
    finally:
        vidigest.close()
    assert described["status"] == VideoStatus.FAILED
    assert expected in described["error"]
    assert described["history"][-1]["reason"] == described["error"]


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    result = vidigest_cli("process", str(TALK), "--colour", "red", data_dir=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("vidigest: error: No such option: --colour")
    assert line.endswith("(see 'vidigest process --help')")


def test_transcribe_prints_the_transcript_with_low_wer(tmp_path: Path) -> None:
    reference = (SAMPLES / "librivox_speech.txt").read_text()
    result = vidigest_cli(
        "transcribe", str(SAMPLES / "librivox_speech.mp4"), "--format", "txt", data_dir=tmp_path
    )
    assert result.returncode == 0, result.stderr
    error = wer(reference, result.stdout)
    print(f"\nWER of `vidigest transcribe` on librivox_speech.mp4: {error:.3f}")
    assert error <= 0.10, (error, result.stdout)


@pytest.fixture(scope="module")
def vidigest_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vidigest]:
    app = Vidigest.open(Settings(data_dir=tmp_path_factory.mktemp("data")))
    yield app
    app.close()


@pytest.mark.parametrize("fmt", ["wav", "mp3", "ogg", "flac", "m4a"])
def test_audio_only_inputs_are_accepted(
    vidigest_app: Vidigest, tmp_path: Path, fmt: media.AudioFormat
) -> None:
    clip = media.speech(tmp_path, "Honey bees collect nectar from flowers.", fmt)
    video = vidigest_app.register_path(clip)
    vidigest_app.embedded_runtime().run_until_idle()
    described = describe_video(vidigest_app.database.session_factory, video.id)
    assert described["status"] == "COMPLETED", described["error"]
    assert "flowers" in (described["summary"] or "").lower()


# (transcription, summary) statements: diarized, the transcript stores its turns and speakers
# and reads the voice profiles (+3), and the summary reads speakers and turns back (+2);
# with --speakers off nothing of it runs
STATEMENTS = {"auto": (15, 15), "off": (12, 13)}


@pytest.mark.parametrize("speakers", ["auto", "off"])
def test_sql_statements_per_message(vidigest_app: Vidigest, tmp_path: Path, speakers: str) -> None:
    """Round trips the handler issues per message (the figures reported in the docs)."""
    clip = media.speech(tmp_path, "Honey bees make honey from nectar. " * 3)
    runtime = vidigest_app.embedded_runtime()
    runtime.run_until_idle()  # what earlier tests left (their summary.completed: to webhooks)
    vidigest_app.register_path(clip, speakers=speakers)
    counted: dict[str, int] = {}
    for worker in ("transcription", "summary"):
        runtime.relay.publish_all()
        statements: list[str] = []
        indexing: list[str] = []  # the same event also goes to the indexing worker, after
        into = [statements]

        def record(
            conn: Any,
            cursor: Any,
            statement: str,
            parameters: Any,
            *args: Any,
            into: list[list[str]] = into,
            indexing: list[str] = indexing,
        ) -> None:
            if "processed_messages" in statement and "indexing-worker" in str(parameters):
                into[0] = indexing  # the indexing handler's first statement
            into[0].append(statement)

        event.listen(vidigest_app.database.engine, "before_cursor_execute", record)
        try:
            deliveries = runtime.broker.drain()  # one message, to one handler
        finally:
            event.remove(vidigest_app.database.engine, "before_cursor_execute", record)
        assert {d.result.outcome.value for d in deliveries} == {"processed"}
        # progress updates and the checks that the video was not cancelled (one a window, the
        # others throttled by time like the progress) are not per message: not counted
        counted[worker] = sum(
            1
            for s in statements
            if not s.startswith(("UPDATE videos SET progress", "SELECT videos.status"))
        )
    print(f"\nSQL statements per message: {counted}")
    transcription, summary = STATEMENTS[speakers]
    assert counted["transcription"] <= transcription and counted["summary"] <= summary, counted
