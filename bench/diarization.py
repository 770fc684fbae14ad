"""Speaker diarization: DER, speaker-count accuracy and real-time factor on real speech.

    .venv/bin/python bench/diarization.py            # the table (~10 minutes on 2 shared cores)
    .venv/bin/python bench/diarization.py --quick    # 3 conversations, a smoke run

The set: the pyannote-audio wheel's sample (30 s, 2 speakers, overlapping speech, its RTTM) and
conversations of 2-4 speakers built from real voice lines with sample-exact turns (Debian
fillets-ng-data-cs/-nl: two actors per language; the LibriVox reader of pocketsphinx-testdata),
speakers alternating with 0.2-0.8 s gaps (seed 13: the same set every run; > 20 minutes).

Rows, all in the same run on the same audio and the same Silero VAD regions:
- vidigest: CAM++ embeddings of 1.5 s windows, spectral clustering, count estimated;
- baseline "one speaker": every speech region labelled as one speaker (what the pipeline
  produced before diarization existed);
- baseline "MFCC": the same windows, clustering and turns, but each window's vector is the mean
  and standard deviation of 20 MFCCs (no speaker network);
- "CAM++, step S s": vidigest with windows every S seconds (`--sparse-step`, default 1.5: no
  overlap, half the embeddings) instead of every 0.75 s, what a cheaper setting would cost.
DER is frame-level (10 ms) with the optimal speaker mapping, without and with a 0.25 s collar;
"count" is the share of recordings whose estimated speaker count is right. RTF: diarization
time (VAD + embeddings + clustering; model loaded beforehand) / audio duration, one thread.

The same run measures what voice profiles rely on: the cosine between speaker centroids of
different recordings, same speaker against different speakers (profiles.DEFAULT_MATCH_THRESHOLD).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from tests.support.diarization import (  # noqa: E402
    RATE,
    Turn,
    assignment,
    conversation,
    decode,
    der,
    fillets_lines,
    librivox_lines,
    pyannote_sample,
)

from vidigest.modules.speakers.campplus import SpeakerEncoder  # noqa: E402
from vidigest.modules.speakers.clustering import cluster  # noqa: E402
from vidigest.modules.speakers.diarize import (  # noqa: E402
    Diarizer,
    speech_regions,
    turns_of,
    windows_of,
)
from vidigest.modules.speakers.fbank import fbank  # noqa: E402
from vidigest.modules.speakers.profiles import DEFAULT_MATCH_THRESHOLD  # noqa: E402

SEED = 13
LINES_PER_VOICE = 130
# (voices, turns): 2-4 speakers; "en-librivox" has only 5 lines, so it appears in short talks
CONVERSATIONS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("cs-m", "cs-v"), 50),
    (("nl-m", "nl-v"), 50),
    (("cs-m", "nl-v"), 40),
    (("cs-v", "nl-m"), 40),
    (("cs-v", "en-librivox"), 10),
    (("cs-m", "cs-v", "nl-m"), 50),
    (("nl-m", "nl-v", "cs-v"), 50),
    (("cs-m", "nl-m", "en-librivox"), 14),
    (("cs-m", "cs-v", "nl-m", "nl-v"), 60),
    (("cs-v", "nl-v", "cs-m", "nl-m"), 60),
    (("nl-v", "cs-m", "en-librivox"), 14),
)


def load_voices(rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    voices: dict[str, list[np.ndarray]] = {}
    for language in ("cs", "nl"):
        for who, paths in fillets_lines(language).items():
            chosen = rng.choice(len(paths), size=min(LINES_PER_VOICE, len(paths)), replace=False)
            voices[who] = [decode(paths[i]) for i in sorted(chosen)]
    voices["en-librivox"] = [decode(p) for p in librivox_lines()]
    return voices


def build_set(quick: bool) -> list[tuple[str, np.ndarray, list[Turn]]]:
    rng = np.random.default_rng(SEED)
    voices = load_voices(rng)
    recordings = []
    sample, reference = pyannote_sample()
    recordings.append(("pyannote sample", sample, reference))
    plan = CONVERSATIONS[:3] if quick else CONVERSATIONS
    used: dict[str, int] = {}
    for who, turns in plan:
        # each conversation draws fresh lines: a voice's lines are split across conversations
        pool = {}
        for w in who:
            lines = voices[w]
            if w == "en-librivox":
                pool[w] = list(lines)
                continue
            start = used.get(w, 0)
            take = max(8, turns // len(who) + 4)
            pool[w] = lines[start : start + take] or lines[:take]
            used[w] = start + take
        audio, ref = conversation(pool, turns, rng)
        recordings.append(("+".join(who), audio, ref))
    return recordings


class MfccBaseline:
    """Baseline window vectors: mean and standard deviation of 20 MFCCs (c1..c20 of the log-mel
    fbank), standardised over the recording (like CMVN), L2-normalised; then vidigest's own
    windows, clustering and turns."""

    def __init__(self) -> None:
        n, k = 80, np.arange(80)
        self._dct = np.cos(np.pi / n * (k[None, :] + 0.5) * np.arange(1, 21)[:, None])

    def diarize(self, audio: np.ndarray) -> tuple[list[Turn], int]:
        regions = speech_regions(audio)
        windows = windows_of(regions)
        if not windows:
            return [], 0
        rows = []
        for start, end, _ in windows:
            clip = audio[round(start * RATE) : round(end * RATE)]
            c = fbank(clip, mean_normalize=False) @ self._dct.T
            rows.append(np.concatenate([c.mean(axis=0), c.std(axis=0)]))
        x = np.asarray(rows, dtype=np.float64)
        x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
        x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
        labels = cluster(x.astype(np.float32))
        pieces = turns_of(windows, labels.tolist(), regions)
        return [(s, e, f"SPEAKER_{k + 1}") for s, e, k in pieces], len(set(labels.tolist()))


def as_turns(result: object) -> list[Turn]:
    return [(t.start, t.end, t.speaker) for t in result.turns]  # type: ignore[attr-defined]


def mapping(reference: list[Turn], hypothesis: list[Turn]) -> dict[str, str]:
    """hypothesis label -> reference speaker, by the most overlapping one-to-one mapping."""
    refs = sorted({t[2] for t in reference})
    hyps = sorted({t[2] for t in hypothesis})
    overlap = np.zeros((len(refs), len(hyps)))
    for rs, re_, rw in reference:
        for hs, he, hw in hypothesis:
            overlap[refs.index(rw), hyps.index(hw)] += max(0.0, min(re_, he) - max(rs, hs))
    return {hyps[h]: refs[r] for r, h in assignment(-overlap) if overlap[r, h] > 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--sparse-step",
        type=float,
        default=1.5,
        help="window step (s) of the extra CAM++ row (the default step is 0.75 s)",
    )
    args = parser.parse_args()

    t0 = time.perf_counter()
    recordings = build_set(args.quick)
    total_audio = sum(len(a) for _, a, _ in recordings) / RATE
    print(
        f"{len(recordings)} recordings, {total_audio / 60:.1f} min of audio "
        f"(built in {time.perf_counter() - t0:.0f} s)"
    )
    encoder = SpeakerEncoder()
    campplus = Diarizer(threads=1, encoder=encoder)
    sparse = Diarizer(threads=1, encoder=encoder, step=args.sparse_step)
    mfcc = MfccBaseline()
    systems = (
        "vidigest (CAM++)",
        "baseline: one speaker",
        "baseline: MFCC",
        f"CAM++, step {args.sparse_step:g} s",
    )
    scores: dict[str, list[tuple[float, float, float, float, float, bool]]] = {
        s: [] for s in systems
    }
    seconds = dict.fromkeys(systems, 0.0)
    centroids: list[tuple[int, str, np.ndarray]] = []  # (recording, reference speaker, centroid)
    print(f"\n{'recording':32} {'spk':>3} {'found':>5} {'DER':>6} {'DER c.25':>8} {'MFCC':>6}")
    for index, (name, audio, reference) in enumerate(recordings):
        true_count = len({t[2] for t in reference})
        hyps: dict[str, tuple[list[Turn], int]] = {}
        start = time.perf_counter()
        result = campplus.diarize(audio)
        seconds[systems[0]] += time.perf_counter() - start
        hyps[systems[0]] = (as_turns(result), len(result.centroids))
        for label, ref_name in mapping(reference, hyps[systems[0]][0]).items():
            centroids.append((index, ref_name, result.centroids[label]))
        start = time.perf_counter()
        regions = speech_regions(audio)
        hyps[systems[1]] = ([(s, e, "SPEAKER_1") for s, e in regions], 1)
        seconds[systems[1]] += time.perf_counter() - start
        start = time.perf_counter()
        hyps[systems[2]] = mfcc.diarize(audio)
        seconds[systems[2]] += time.perf_counter() - start
        start = time.perf_counter()
        other = sparse.diarize(audio)
        seconds[systems[3]] += time.perf_counter() - start
        hyps[systems[3]] = (as_turns(other), len(other.centroids))
        for system in systems:
            turns, count = hyps[system]
            plain, collar = der(reference, turns), der(reference, turns, collar=0.25)
            scores[system].append(
                (
                    plain.der,
                    collar.der,
                    plain.miss,
                    plain.false_alarm,
                    plain.confusion,
                    count == true_count,
                )
            )
        print(
            f"{name[:32]:32} {true_count:3d} {hyps[systems[0]][1]:5d} "
            f"{scores[systems[0]][-1][0]:6.1%} {scores[systems[0]][-1][1]:8.1%} "
            f"{scores[systems[2]][-1][0]:6.1%}"
        )

    weights = np.array([len(a) for _, a, _ in recordings], dtype=np.float64)
    weights /= weights.sum()
    print(
        f"\n{'system':24} {'DER':>6} {'DER c.25':>8} {'miss':>6} {'FA':>6} {'conf.':>6} "
        f"{'count':>7} {'RTF':>6}"
    )
    base = None
    for system in systems:
        s = np.array([row[:5] for row in scores[system]])
        mean = weights @ s
        right = sum(row[5] for row in scores[system])
        rtf = seconds[system] / total_audio
        if base is None:
            base = mean[0]
        print(
            f"{system:24} {mean[0]:6.1%} {mean[1]:8.1%} {mean[2]:6.1%} {mean[3]:6.1%} "
            f"{mean[4]:6.1%} {right:3d}/{len(recordings):<3d} {rtf:6.3f}"
        )
    print("(DER etc. weighted by duration; miss and false alarm come from VAD and overlap)")

    same, different = [], []
    for i, (ri, si, ci) in enumerate(centroids):
        for rj, sj, cj in centroids[i + 1 :]:
            if ri == rj:
                continue
            (same if si == sj else different).append(float(ci @ cj))
    if same and different:
        qs = (0, 5, 50, 95, 100)
        print("\ncentroid cosine across recordings (percentiles 0/5/50/95/100):")
        print(
            f"  same speaker      ({len(same):3d} pairs): "
            + " ".join(f"{np.percentile(same, q):.3f}" for q in qs)
        )
        print(
            f"  different speakers ({len(different):3d} pairs): "
            + " ".join(f"{np.percentile(different, q):.3f}" for q in qs)
        )
        t = DEFAULT_MATCH_THRESHOLD
        print(
            f"  threshold {t}: same speaker matched {np.mean(np.array(same) >= t):.1%}, "
            f"different speakers matched {np.mean(np.array(different) >= t):.1%}"
        )


if __name__ == "__main__":
    main()
