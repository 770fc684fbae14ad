"""Diarization of real speech: the pyannote sample (2 speakers, its RTTM) and conversations built
from real voice lines with exact turns (tests/support/diarization.py); voice profiles across
recordings. Bounds come from bench/diarization.py runs with margin (docs/speakers.md)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest

from tests.support.diarization import (
    Turn,
    conversation,
    decode,
    der,
    fillets_lines,
    pyannote_sample,
)
from vidigest.modules.speakers.diarize import Diarization, Diarizer
from vidigest.modules.speakers.profiles import match_profiles

pytestmark = pytest.mark.slow
LINES = 16  # per voice, the first of each actor's lines by file name


@pytest.fixture(scope="module")
def diarizer() -> Diarizer:
    return Diarizer(threads=2)


@pytest.fixture(scope="module")
def voices() -> dict[str, list[np.ndarray]]:
    lines = {**fillets_lines("cs"), **fillets_lines("nl")}
    if not lines:
        pytest.fail("fillets-ng-data-cs/-nl are not installed: run `make system-deps`")
    return {who: [decode(p) for p in paths[:LINES]] for who, paths in lines.items()}


def turns(result: Diarization) -> list[Turn]:
    return [(t.start, t.end, t.speaker) for t in result.turns]


def owner(result: Diarization, reference: list[Turn]) -> dict[str, str]:
    """label -> the reference speaker it overlaps most."""
    out = {}
    for label in result.centroids:
        time: dict[str, float] = {}
        for t in result.turns:
            if t.speaker != label:
                continue
            for s, e, who in reference:
                time[who] = time.get(who, 0.0) + max(0.0, min(e, t.end) - max(s, t.start))
        out[label] = max(time, key=lambda w: time[w])
    return out


def check_turns(result: Diarization) -> None:
    """Sorted, non-overlapping, labelled SPEAKER_1.. by first appearance, centroids unit."""
    starts = [t.start for t in result.turns]
    assert starts == sorted(starts)
    assert all(a.end <= b.start + 1e-9 for a, b in itertools.pairwise(result.turns))
    assert all(t.end > t.start for t in result.turns)
    order = list(dict.fromkeys(t.speaker for t in result.turns))
    assert order == [f"SPEAKER_{i}" for i in range(1, len(order) + 1)]
    assert set(result.centroids) == set(order)
    for c in result.centroids.values():
        assert c.shape == (192,) and c.dtype == np.float32
        assert abs(float(np.linalg.norm(c)) - 1) < 1e-5


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float]] = []

    def start(self, phase: str, total: float) -> None:
        self.calls.append(("start", phase, total))

    def update(self, phase: str, completed: float) -> None:
        self.calls.append(("update", phase, completed))

    def finish(self, phase: str) -> None:
        self.calls.append(("finish", phase, 0.0))


def test_the_pyannote_sample_has_two_speakers(diarizer: Diarizer) -> None:
    samples, reference = pyannote_sample()
    progress = Recorder()
    result = diarizer.diarize(samples, progress=progress)
    check_turns(result)
    assert len(result.centroids) == 2
    # measured: 18.2 % (overlapped speech is all miss: turns never overlap), 5.4 % with collar
    assert der(reference, turns(result)).der < 0.25
    assert der(reference, turns(result), collar=0.25).der < 0.10
    assert progress.calls[0] == ("start", "diarize", 30.0)
    assert progress.calls[-1] == ("finish", "diarize", 0.0)
    assert progress.calls[-2] == ("update", "diarize", 30.0)


def test_hints_fix_or_bound_the_count(diarizer: Diarizer) -> None:
    samples, _ = pyannote_sample()
    assert len(diarizer.diarize(samples, num_speakers=3).centroids) == 3
    assert len(diarizer.diarize(samples, max_speakers=1).centroids) == 1
    with pytest.raises(ValueError):
        diarizer.diarize(samples, num_speakers=0)


def test_no_speech_gives_no_turns(diarizer: Diarizer) -> None:
    for silent in (np.zeros(0, np.float32), np.zeros(5 * 16_000, np.float32)):
        assert diarizer.diarize(silent) == Diarization((), {})
    noise = (np.random.default_rng(0).normal(size=3 * 16_000) * 1e-4).astype(np.float32)
    assert diarizer.diarize(noise).turns == ()
    with pytest.raises(ValueError, match="1-D"):
        diarizer.diarize(np.zeros((2, 16_000), np.float32))
    with pytest.raises(ValueError, match="finite"):
        diarizer.diarize(np.full(16_000, np.nan, np.float32))


def test_a_three_speaker_conversation_gets_three(
    diarizer: Diarizer, voices: dict[str, list[np.ndarray]]
) -> None:
    pool = {w: voices[w] for w in ("cs-m", "cs-v", "nl-m")}
    audio, reference = conversation(pool, 18, np.random.default_rng(7))
    result = diarizer.diarize(audio)
    check_turns(result)
    assert len(result.centroids) == 3
    assert sorted(owner(result, reference).values()) == ["cs-m", "cs-v", "nl-m"]
    assert der(reference, turns(result), collar=0.25).der < 0.15


@pytest.fixture(scope="module")
def two_recordings(
    diarizer: Diarizer, voices: dict[str, list[np.ndarray]]
) -> Iterator[tuple[Diarization, list[Turn], Diarization, list[Turn]]]:
    """Recording A: the two Czech actors; recording B: the Czech small fish and the Dutch big
    fish, from other lines of theirs."""
    half = LINES // 2
    a_pool = {"cs-m": voices["cs-m"][:half], "cs-v": voices["cs-v"][:half]}
    b_pool = {"cs-m": voices["cs-m"][half:], "nl-v": voices["nl-v"][half:]}
    a_audio, a_ref = conversation(a_pool, 12, np.random.default_rng(1))
    b_audio, b_ref = conversation(b_pool, 12, np.random.default_rng(2))
    yield diarizer.diarize(a_audio), a_ref, diarizer.diarize(b_audio), b_ref


def test_a_voice_profile_names_the_same_actor_in_another_recording(
    two_recordings: tuple[Diarization, list[Turn], Diarization, list[Turn]],
) -> None:
    a, a_ref, b, b_ref = two_recordings
    assert len(a.centroids) == 2 and len(b.centroids) == 2
    a_owner, b_owner = owner(a, a_ref), owner(b, b_ref)
    profiles = [(a_owner[label], c) for label, c in a.centroids.items()]  # "cs-m", "cs-v"
    named = match_profiles(b.centroids, profiles)
    # the Czech small fish is recognised; the Dutch big fish is nobody's profile
    assert {b_owner[label]: name for label, name in named.items()} == {"cs-m": "cs-m"}
