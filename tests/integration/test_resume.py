"""Long media: a transcription worker killed mid-file (SIGKILL) resumes where its stored windows
end, and the transcript is the one an uninterrupted run gives."""

from __future__ import annotations

import re
import signal

import pytest
from sqlalchemy import select

from tests.support.cluster import Cluster
from tests.support.paths import SAMPLES
from vidigest.database.session import db_session_context
from vidigest.modules.transcription.asr import WhisperTranscriber
from vidigest.modules.transcription.models import TranscriptRecord
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.models import Video

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TALK = SAMPLES / "three_topics_talk.mp4"  # 2:53, longer than RESUMABLE_MIN_SECONDS
WINDOW = 20.0  # small windows: about nine of them, so the kill lands mid-file
THREADS = 2
STORED = re.compile(r"window [\d.]+-[\d.]+ s stored")
RESUMED = re.compile(r"resuming at ([\d.]+) s \((\d+) segments stored\)")
DIARIZING = "speakers: diarizing"


@pytest.fixture
def cluster(cluster: Cluster) -> Cluster:
    """The shared deployment, with small windows so the kill lands mid-file."""
    cluster.extra_env.update(
        {"VIDIGEST_ASR_WINDOW_SECONDS": str(WINDOW), "VIDIGEST_ASR_THREADS": str(THREADS)}
    )
    return cluster


def partial(cluster: Cluster, video_id: str) -> TranscriptRecord | None:
    with cluster.database.session() as session:
        return session.scalars(
            select(TranscriptRecord).where(TranscriptRecord.video_id == video_id)
        ).one_or_none()


def test_killed_worker_resumes_and_gives_the_uninterrupted_transcript(cluster: Cluster) -> None:
    doomed = cluster.start("worker", "transcription", name="asr-doomed", metrics=False)
    cluster.start("worker", "relay", metrics=False)
    video_id = cluster.submit(TALK)

    def two_windows_stored() -> bool:
        record = partial(cluster, video_id)
        return record is not None and record.segment_count > 0 and record.resume_at > WINDOW

    cluster.wait_until(two_windows_stored, 180, "two windows stored")
    with cluster.database.session() as session:
        progress = session.get(Video, video_id)
        assert progress is not None and 0 < progress.progress < 100  # visible while it works
    cluster.stop(doomed, signal.SIGKILL)
    killed_at = partial(cluster, video_id)
    assert killed_at is not None and killed_at.state == "in_progress"
    assert cluster.status(video_id) == "TRANSCRIBING"
    first_windows = len(STORED.findall(doomed.log_text()))
    assert first_windows >= 2

    replacement = cluster.start("worker", "transcription", name="asr-replacement", metrics=False)
    cluster.wait_until(lambda: cluster.status(video_id) == "TRANSCRIBED", 240, "TRANSCRIBED")

    # it resumed where the stored windows ended instead of starting over
    log = replacement.log_text()
    resumed = RESUMED.search(log)
    assert resumed is not None, log[-3000:]
    assert float(resumed.group(1)) >= killed_at.resume_at > WINDOW
    assert int(resumed.group(2)) >= killed_at.segment_count > 0

    # the transcript an uninterrupted run gives, with the same model, windows and threads
    reference = WhisperTranscriber("fast", window_seconds=WINDOW, threads=THREADS)
    windows = list(reference.iter_windows(TALK))
    second_windows = len(STORED.findall(log)) + 1  # + the last one, stored at completion
    assert second_windows < len(windows)  # fewer windows decoded the second time
    assert first_windows + second_windows >= len(windows)

    expected = [s for w in windows for s in w.segments]
    with db_session_context(cluster.database.session_factory) as session:
        stored = TranscriptService(session).load(video_id)
        record = TranscriptService(session).find_record(video_id)
        assert record is not None
        assert (record.state, record.segment_count) == ("complete", len(expected))
        assert record.text == " ".join(s.text for s in expected)
    assert [(s.index, s.text) for s in stored.segments] == [(s.index, s.text) for s in expected]
    for got, want in zip(stored.segments, expected, strict=True):
        assert got.start == pytest.approx(want.start, abs=1e-6)
        assert got.end == pytest.approx(want.end, abs=1e-6)
        assert len(got.words) == len(want.words)
    assert cluster.count("transcripts") == 1
    assert cluster.count("processed_messages") == 1
    assert cluster.count("outbox_events", event_type="transcription.completed") == 1


def test_killed_mid_diarization_stores_the_turns_once(cluster: Cluster) -> None:
    """Speakers are found after the last window and stored only by the completing transaction:
    a worker SIGKILLed while diarizing leaves no turn behind, and the redelivery diarizes again
    and stores each turn once."""
    doomed = cluster.start("worker", "transcription", name="diarize-doomed", metrics=False)
    cluster.start("worker", "relay", metrics=False)
    video_id = cluster.submit(TALK)
    cluster.wait_until(lambda: DIARIZING in doomed.log_text(), 300, "diarization under way")
    cluster.stop(doomed, signal.SIGKILL)
    assert cluster.status(video_id) == "TRANSCRIBING"
    record = partial(cluster, video_id)
    assert record is not None and record.state == "in_progress"  # every window stored...
    assert cluster.count("transcript_turns") == 0  # ...and no speaker yet

    replacement = cluster.start("worker", "transcription", name="diarize-again", metrics=False)
    cluster.wait_until(lambda: cluster.status(video_id) == "TRANSCRIBED", 300, "TRANSCRIBED")
    assert DIARIZING in replacement.log_text()
    with db_session_context(cluster.database.session_factory) as session:
        stored = TranscriptService(session).load(video_id)
    assert stored.turns and stored.speakers
    assert cluster.count("transcript_turns") == len(stored.turns)
    assert cluster.count("transcript_speakers") == len(stored.speakers)
    assert [t.start for t in stored.turns] == sorted(t.start for t in stored.turns)
    assert all(s.speaker is not None for s in stored.segments)
    assert cluster.count("processed_messages") == 1
    assert cluster.count("outbox_events", event_type="transcription.completed") == 1
