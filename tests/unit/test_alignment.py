"""Word alignment (modules/transcription/alignment.py) on real speech models: hama's phoneme CTC
model and G2P, Whisper tiny.en, utterances built word by word with espeak-ng (exact bounds)."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.support.alignment import boundary_errors, matched, spoken_words
from vidigest.common.exceptions import ModelError
from vidigest.common.types import Segment, Word
from vidigest.modules.transcription.alignment import (
    ASSETS,
    PAD_SECONDS,
    Aligner,
    align_words,
    asset_paths,
    default_aligner,
    viterbi,
)
from vidigest.modules.transcription.asr import WhisperTranscriber

TEXT = "Please remember to bring the quarterly report to the meeting on Thursday morning"


@pytest.fixture(scope="module")
def aligner() -> Aligner:
    return default_aligner()


@pytest.fixture(scope="module")
def utterance(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, list, Segment]:
    samples, refs = spoken_words(TEXT, voice="en-us", speed=170, seed=4)
    path = tmp_path_factory.mktemp("align") / "u.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    transcript = WhisperTranscriber("fast").transcribe(path)  # Whisper's own times
    return samples, refs, transcript.segments, path


def words_of(segments: tuple[Segment, ...]) -> list[tuple[str, float, float]]:
    return [(w.text, w.start, w.end) for s in segments for w in s.words]


def test_aligned_boundaries_beat_whispers(aligner: Aligner, utterance: tuple) -> None:
    samples, refs, segments, _ = utterance
    aligned = align_words(samples, segments, "en", aligner)
    whisper = boundary_errors(matched(refs, words_of(segments)))
    ours = boundary_errors(matched(refs, words_of(aligned)))
    assert ours.size == whisper.size >= 20  # the same recognised words are scored
    # measured: Whisper ~0.14 s, aligned ~0.04 s (bench/alignment.py)
    assert ours.mean() < 0.5 * whisper.mean()
    assert ours.mean() < 0.08
    assert [w.text for s in aligned for w in s.words] == [w.text for s in segments for w in s.words]


def test_words_stay_inside_the_padded_segment(aligner: Aligner, utterance: tuple) -> None:
    samples, refs, _, _ = utterance
    # a segment that claims the first second only, while the words are spoken over ~5 s: the
    # alignment may not drag them out of its padded span
    words = tuple(
        Word(start=0.1 * i, end=0.1 * i + 0.1, text=f" {r.text}", probability=0.9)
        for i, r in enumerate(refs[:8])
    )
    segment = Segment(
        index=0, start=0.0, end=0.8, text=" ".join(r.text for r in refs[:8]), words=words
    )
    (out,) = align_words(samples, [segment], "en", aligner)
    for w in out.words:
        assert -1e-9 <= w.start <= w.end <= 0.8 + PAD_SECONDS + 1e-9
    starts = [w.start for w in out.words]
    assert starts == sorted(starts)


def test_offset_and_neighbours(aligner: Aligner, utterance: tuple) -> None:
    samples, refs, segments, _ = utterance
    # the same audio placed 10 s into a longer time line: the same words, 10 s later
    shifted = [
        s.model_copy(
            update={
                "start": s.start + 10,
                "end": s.end + 10,
                "words": tuple(
                    w.model_copy(update={"start": w.start + 10, "end": w.end + 10}) for w in s.words
                ),
            }
        )
        for s in segments
    ]
    here = align_words(samples, segments, "en", aligner)
    there = align_words(samples, shifted, "en", aligner, offset=10.0)
    for a, b in zip(words_of(here), words_of(there), strict=True):
        assert b[1] == pytest.approx(a[1] + 10, abs=1e-6)
        assert b[2] == pytest.approx(a[2] + 10, abs=1e-6)
    # two segments that meet between words 5 and 6: no word moves into the other segment

    def seg(index: int, part: list) -> Segment:
        words = tuple(
            Word(start=r.start + 0.12, end=r.end + 0.12, text=f" {r.text}", probability=0.9)
            for r in part
        )
        return Segment(
            index=index,
            start=words[0].start,
            end=words[-1].end,
            text=" ".join(r.text for r in part),
            words=words,
        )

    first, second = seg(0, refs[:6]), seg(1, refs[6:])
    a, b = align_words(samples, [first, second], "en", aligner)
    assert all(w.end <= second.start + 1e-9 for w in a.words)
    assert all(w.start >= first.end - 1e-9 for w in b.words)
    assert a.end <= b.start
    assert abs(a.words[-1].end - refs[5].end) < abs(first.words[-1].end - refs[5].end)


def test_unalignable_words_keep_whispers_times(aligner: Aligner, utterance: tuple) -> None:
    samples, refs, _, _ = utterance
    # Whisper-like times 150 ms late, and one word written as a number the G2P cannot read
    shift = 0.15
    texts = [r.text for r in refs]
    texts[4] = "42"
    words = tuple(
        Word(start=r.start + shift, end=r.end + shift, text=f" {t}", probability=0.9)
        for r, t in zip(refs, texts, strict=True)
    )
    segment = Segment(
        index=0, start=words[0].start, end=words[-1].end, text=" ".join(texts), words=words
    )
    (out,) = align_words(samples, [segment], "en", aligner)
    kept = out.words[4]
    assert (kept.start, kept.end) == (words[4].start, words[4].end)
    others = [i for i in range(len(refs)) if i != 4]
    before = np.mean([abs(words[i].start - refs[i].start) for i in others])
    after = np.mean([abs(out.words[i].start - refs[i].start) for i in others])
    assert after < 0.5 * before


def test_unsupported_language_passes_through(utterance: tuple) -> None:
    samples, _, segments, _ = utterance
    # no aligner is passed and none is needed: nothing is loaded for German
    assert align_words(samples, segments, "de") == tuple(segments)
    assert align_words(samples, (), "en") == ()


def test_viterbi_finds_the_only_good_path() -> None:
    # 3 tokens (0 = blank, 1, 2); labels 1 1 2: the repeat needs a blank between the two 1s
    frames = [0, 1, 1, 0, 1, 2, 2, 0]
    scores = np.full((len(frames), 3), np.log(0.01), dtype=np.float32)
    scores[np.arange(len(frames)), frames] = np.log(0.98)
    path = viterbi(scores, np.array([1, 1, 2]), blank=0)
    assert path is not None
    assert path.tolist() == [-1, 0, 0, -1, 1, 2, 2, -1]
    # fewer frames than the labels need (1, blank, 1, 2): no alignment
    assert viterbi(scores[:3], np.array([1, 1, 2]), blank=0) is None


def test_installed_assets_are_verified() -> None:
    paths = asset_paths()
    assert set(paths) == set(ASSETS)


def test_an_altered_asset_is_refused(tmp_path: Path) -> None:
    installed = asset_paths()
    for rel, path in installed.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, tmp_path / rel)
    target = tmp_path / "hama/assets/asr_waveform.hama"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum mismatch"):
        Aligner(root=tmp_path)
    target.unlink()
    with pytest.raises(ModelError, match=r"asr_waveform\.hama is missing"):
        asset_paths(tmp_path)


def test_the_transcriber_aligns_its_words(utterance: tuple) -> None:
    """With VIDIGEST_ALIGN_WORDS on, the transcriber returns the aligned times, window by
    window; the same text as with Whisper's own times."""
    _, refs, whisper_segments, path = utterance
    segments = WhisperTranscriber("fast", align_words=True).transcribe(path).segments
    assert [w.text for s in segments for w in s.words] == [
        w.text for s in whisper_segments for w in s.words
    ]
    ours = boundary_errors(matched(refs, words_of(segments)))
    whisper = boundary_errors(matched(refs, words_of(whisper_segments)))
    assert ours.mean() < 0.5 * whisper.mean() and ours.mean() < 0.08
