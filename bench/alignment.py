"""Word-boundary error: Whisper's own word timestamps against the CTC forced aligner.

    .venv/bin/python bench/alignment.py            # the table (~4 minutes on 2 shared cores)
    .venv/bin/python bench/alignment.py --quick    # 2 utterances, a smoke run

Two sets, each transcribed by Whisper (the `fast` and `accurate` presets unless --models), then
aligned by
vidigest.modules.transcription.alignment in the same run on the same segments:
- "built": sentences spoken word by word by espeak-ng (4 voices, 2 speeds) and joined with
  0-250 ms gaps: every word's start and end is exact (tests/support/alignment.py);
- "real": pocketsphinx-testdata's real read speech (the LibriVox reader, the "cards" speaker);
  only each line's first start and last end are scored, estimated from the line's energy
  (15 dB over its noise floor).
Only words Whisper recognised correctly are scored (difflib matching), the same words for both
rows. Errors are absolute, in ms, over starts and ends. RTF: alignment time / audio duration,
one thread, models loaded beforehand; Whisper's RTF on the same audio for scale.

Speed on longer speech: samples/three_topics_talk.mp4 (2:53, 480 words), Whisper `fast`, then
the alignment with an empty G2P cache (a fresh process) and again with it warm (a worker that
has seen these words before).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
from tests.support.alignment import (  # noqa: E402
    VOICES,
    RefWord,
    boundary_errors,
    matched,
    real_utterances,
    spoken_words,
)
from tests.support.diarization import decode  # noqa: E402

from vidigest.common.types import Segment  # noqa: E402
from vidigest.modules.transcription.alignment import (  # noqa: E402
    Aligner,
    align_words,
    default_aligner,
)
from vidigest.modules.transcription.asr import WhisperTranscriber  # noqa: E402

SENTENCES = (
    "The quick brown fox jumped over the lazy dog while curious children watched",
    "Please remember to bring the quarterly report to the meeting on Thursday morning",
    "She opened the window and listened to the rain falling on the garden",
    "Our new database migration finished without errors after several attempts",
    "A strong wind blew across the harbour and the fishing boats returned early",
    "Speakers should introduce themselves before answering questions from the audience",
)
SPEEDS = (150, 185)


def write_wav(path: Path, samples: npt.NDArray[np.float32]) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def words_of(segments: tuple[Segment, ...]) -> list[tuple[str, float, float]]:
    return [(w.text, w.start, w.end) for s in segments for w in s.words]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", default="fast,accurate")
    args = parser.parse_args()

    sets: dict[str, list[tuple[npt.NDArray[np.float32], list[RefWord]]]] = {"built": [], "real": []}
    k = 0
    for s, sentence in enumerate(SENTENCES):
        for v, voice in enumerate(VOICES):
            speed = SPEEDS[(s + v) % len(SPEEDS)]
            sets["built"].append(spoken_words(sentence, voice=voice, speed=speed, seed=k))
            k += 1
    sets["real"].append(real_utterances(seed=13))
    if args.quick:
        sets = {"built": sets["built"][:1], "real": sets["real"]}

    aligner = default_aligner()
    with tempfile.TemporaryDirectory() as data_dir:  # the joined "accurate" model, for the run
        for model in args.models.split(","):
            asr = WhisperTranscriber(model, data_dir=Path(data_dir))
            asr.load_weights()
            table(asr, model, sets, aligner)
    if not args.quick:
        measure_speed(aligner)


def measure_speed(aligner: Aligner) -> None:
    talk = REPO / "samples" / "three_topics_talk.mp4"
    samples = decode(talk)
    duration = samples.size / 16000
    asr = WhisperTranscriber("fast")
    asr.load_weights()
    t0 = time.perf_counter()
    transcript = asr.transcribe(talk, language="en")
    t_asr = time.perf_counter() - t0
    aligner.phonemes.cache_clear()
    runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        align_words(samples, transcript.segments, "en", aligner)
        runs.append(time.perf_counter() - t0)
    words = sum(len(s.words) for s in transcript.segments)
    print(
        f"\nspeed, {talk.name} ({duration:.0f} s, {words} words): Whisper fast RTF "
        f"{t_asr / duration:.3f}; alignment RTF {runs[0] / duration:.3f} (G2P cold), "
        f"{runs[1] / duration:.3f} (G2P warm); 10 min of speech: +{runs[0] / duration * 600:.0f} s"
    )


def table(
    asr: WhisperTranscriber,
    model: str,
    sets: dict[str, list[tuple[npt.NDArray[np.float32], list[RefWord]]]],
    aligner: Aligner,
) -> None:
    print(f"\nWhisper preset {model!r}; errors in ms over |hyp - ref| of word starts and ends")
    print(
        f"{'set':6} {'bounds':>6} {'audio s':>8} {'row':24} {'mean':>6} {'median':>6} "
        f"{'p90':>6} {'<=50ms':>7} {'RTF':>6}"
    )
    aligner.phonemes.cache_clear()  # each table pays for its own G2P
    for name, items in sets.items():
        errs: dict[str, list[npt.NDArray[np.float64]]] = {"whisper": [], "aligned": []}
        audio = t_asr = t_align = 0.0
        for samples, refs in items:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "u.wav"
                write_wav(path, samples)
                t0 = time.perf_counter()
                transcript = asr.transcribe(path, language="en")
                t_asr += time.perf_counter() - t0
            t0 = time.perf_counter()
            aligned = align_words(samples, transcript.segments, "en", aligner)
            t_align += time.perf_counter() - t0
            audio += samples.size / 16000
            errs["whisper"].append(boundary_errors(matched(refs, words_of(transcript.segments))))
            errs["aligned"].append(boundary_errors(matched(refs, words_of(aligned))))
        rows = (
            ("Whisper word timestamps", "whisper", t_asr),
            ("aligned (hama CTC)", "aligned", t_align),
        )
        base = float(np.mean(np.concatenate(errs["whisper"])))
        for label, key, spent in rows:
            e = np.concatenate(errs[key]) * 1000
            print(
                f"{name:6} {e.size:6d} {audio:8.1f} {label:24} {e.mean():6.0f} "
                f"{np.median(e):6.0f} {np.percentile(e, 90):6.0f} "
                f"{100 * np.mean(e <= 50):6.0f}% {spent / audio:6.3f}"
            )
        ratio = base / float(np.mean(np.concatenate(errs["aligned"])))
        print(f"{name:6} mean error ratio Whisper / aligned: {ratio:.2f}x")


if __name__ == "__main__":
    main()
