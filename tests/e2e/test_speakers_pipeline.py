"""Speakers through the whole embedded pipeline, on real voices: a conversation of two actors
(Debian fillets-ng-data-cs voice lines, turns known to the sample) comes out with two speakers
on its segments and in every export, a voice saved from one video names the same actor in
another, and `--speakers off` builds no diarizer at all."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tests.support.diarization import RATE, Turn, conversation, decode, fillets_lines
from vidigest.app import Vidigest
from vidigest.config import Settings
from vidigest.database.session import db_session_context
from vidigest.export import write_outputs
from vidigest.modules.speakers.service import VoiceProfileService
from vidigest.modules.transcription.service import TranscriptService

pytestmark = pytest.mark.slow

ACTORS = {"cs-m": "Small fish", "cs-v": "Big fish"}


def write_wav(path: Path, samples: npt.NDArray[np.float32]) -> Path:
    # scaled to a 0.9 peak: the game's lines go past full scale, and clipping them distorts
    # the voices (a clipped copy of this talk was heard as three speakers)
    pcm = (samples * (0.9 / max(float(np.abs(samples).max()), 1e-9)) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, list[Turn]]]:
    """Two conversations of the same two actors on disjoint voice lines (about 40 s each)."""
    lines = fillets_lines("cs")
    directory = tmp_path_factory.mktemp("conversations")
    made = []
    for half in (0, 1):
        voices = {who: [decode(p) for p in lines[who][half::2][:40]] for who in ACTORS}
        audio, turns = conversation(voices, 12, np.random.default_rng(7 + half))
        made.append((write_wav(directory / f"talk{half}.wav", audio), turns))
    return made


def label_of(actor: str, reference: list[Turn], turns: list[tuple[float, float, str]]) -> str:
    """The hypothesis label that overlaps `actor`'s reference turns most."""
    overlap: dict[str, float] = {}
    for start, end, who in reference:
        if who != actor:
            continue
        for s, e, label in turns:
            overlap[label] = overlap.get(label, 0.0) + max(0.0, min(end, e) - max(start, s))
    return max(overlap, key=lambda label: overlap[label])


def test_two_actors_get_two_speakers_and_a_saved_voice_names_one_later(
    recordings: list[tuple[Path, list[Turn]]], tmp_path: Path
) -> None:
    app = Vidigest.open(Settings(data_dir=tmp_path / "data"))
    try:
        (first, first_ref), (second, second_ref) = recordings
        video = app.register_path(first)
        app.embedded_runtime().run_until_idle()
        factory = app.database.session_factory
        with db_session_context(factory) as session:
            transcript = TranscriptService(session).load(video.id)
        assert len(transcript.speakers) == 2, transcript.speakers
        turns = [(t.start, t.end, t.speaker) for t in transcript.turns]
        small = label_of("cs-m", first_ref, turns)
        assert small != label_of("cs-v", first_ref, turns)
        assert {s.speaker for s in transcript.segments} <= {"SPEAKER_1", "SPEAKER_2"}
        out = write_outputs(factory, video.id, tmp_path / "out")
        assert out is not None
        vtt = (tmp_path / "out" / "transcript.vtt").read_text(encoding="utf-8")
        assert "<v Speaker 1>" in vtt and "<v Speaker 2>" in vtt

        with db_session_context(factory) as session:
            VoiceProfileService(session).save(video.id, small, ACTORS["cs-m"])

        later = app.register_path(second)
        app.embedded_runtime().run_until_idle()
        with db_session_context(factory) as session:
            again = TranscriptService(session).load(later.id)
        turns = [(t.start, t.end, t.speaker) for t in again.turns]
        names = {s.label: s.name for s in again.speakers}
        assert names[label_of("cs-m", second_ref, turns)] == ACTORS["cs-m"], names
        assert names[label_of("cs-v", second_ref, turns)] is None, names
        write_outputs(factory, later.id, tmp_path / "later")  # the name reaches the exports
        assert f"{ACTORS['cs-m']}: " in (tmp_path / "later" / "transcript.txt").read_text("utf-8")
    finally:
        app.close()


def test_speakers_off_builds_no_diarizer(
    recordings: list[tuple[Path, list[Turn]]], tmp_path: Path
) -> None:
    app = Vidigest.open(Settings(data_dir=tmp_path / "data", speakers="off"))
    try:
        video = app.register_path(recordings[0][0])
        app.embedded_runtime().run_until_idle()
        with db_session_context(app.database.session_factory) as session:
            transcript = TranscriptService(session).load(video.id)
        assert transcript.segments and not transcript.speakers and not transcript.turns
        assert all(s.speaker is None for s in transcript.segments)
        assert app.models._diarizer is None  # never built, never loaded: off costs nothing
    finally:
        app.close()
