"""Diarization references and scoring for tests and bench/diarization.py.

- `der`: frame-level diarization error rate (10 ms frames) with the optimal one-to-one mapping
  of hypothesis to reference speakers (Hungarian algorithm, in numpy: scipy is not a
  dependency), an optional collar around reference boundaries (not scored), overlap counted as
  in NIST md-eval (each reference speaker of a frame is one unit of speech).
- `read_rttm`, `pyannote_sample`: the pyannote-audio wheel's 30 s, 2-speaker sample and its RTTM.
- `fillets_lines`, `conversation`: conversations with known turns built from real voice lines
  (Debian fillets-ng-data-cs/-nl: two actors per language; LibriVox readers of
  pocketsphinx-testdata), concatenated with short random gaps: turn times are sample-exact.
"""

from __future__ import annotations

import importlib.metadata
import re
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

RATE = 16_000
FRAME = 0.01
FILLETS = Path("/usr/share/games/fillets-ng")
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")

Turn = tuple[float, float, str]  # start, end, speaker


@dataclass(frozen=True)
class DER:
    der: float
    miss: float
    false_alarm: float
    confusion: float
    speech: float  # scored reference speech, seconds


def _frames(turns: Sequence[Turn], n: int) -> tuple[list[str], npt.NDArray[np.bool_]]:
    names = sorted({t[2] for t in turns})
    grid = np.zeros((len(names), n), dtype=bool)
    for start, end, who in turns:
        a, b = round(start / FRAME), round(end / FRAME)
        grid[names.index(who), max(0, a) : min(n, b)] = True
    return names, grid


def assignment(cost: npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one assignment of rows to columns (Hungarian / Jonker-Volgenant
    shortest augmenting paths); a rectangular matrix assigns min(rows, cols) pairs."""
    transposed = cost.shape[0] > cost.shape[1]
    c = cost.T if transposed else cost
    n, m = c.shape
    inf = float("inf")
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    p = np.zeros(m + 1, dtype=int)  # p[j]: row matched to column j (1-based; 0: none)
    way = np.zeros(m + 1, dtype=int)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = np.full(m + 1, inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            cur = c[i0 - 1] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            cand = np.where(free, minv[1:], inf)
            j1 = int(np.argmin(cand)) + 1
            delta = cand[j1 - 1]
            u[p[used]] += delta
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    pairs = [(int(p[j]) - 1, j - 1) for j in range(1, m + 1) if p[j]]
    return sorted((b, a) for a, b in pairs) if transposed else sorted(pairs)


def der(reference: Sequence[Turn], hypothesis: Sequence[Turn], *, collar: float = 0.0) -> DER:
    """Frame-level DER of `hypothesis` against `reference`; `collar` seconds either side of every
    reference turn boundary are not scored."""
    end = max([t[1] for t in reference] + [t[1] for t in hypothesis] + [0.0])
    n = int(np.ceil(end / FRAME)) + 1
    _, ref = _frames(reference, n)
    _, hyp = _frames(hypothesis, n)
    scored = np.ones(n, dtype=bool)
    if collar > 0:
        c = round(collar / FRAME)
        for start, stop, _who in reference:
            for edge in (round(start / FRAME), round(stop / FRAME)):
                scored[max(0, edge - c) : edge + c] = False
    ref, hyp = ref[:, scored], hyp[:, scored]
    n_ref, n_hyp = ref.sum(axis=0), hyp.sum(axis=0)
    speech = float(n_ref.sum())
    if ref.shape[0] and hyp.shape[0]:
        overlap = ref.astype(np.float64) @ hyp.T.astype(np.float64)  # frames both speak
        mapping = assignment(-overlap)
        correct = np.zeros(ref.shape[1])
        for r, h in mapping:
            correct += ref[r] & hyp[h]
    else:
        correct = np.zeros(ref.shape[1])
    miss = float(np.maximum(n_ref - n_hyp, 0).sum())
    false_alarm = float(np.maximum(n_hyp - n_ref, 0).sum())
    confusion = float((np.minimum(n_ref, n_hyp) - correct).sum())
    total = max(speech, 1.0)
    return DER(
        (miss + false_alarm + confusion) / total,
        miss / total,
        false_alarm / total,
        confusion / total,
        speech * FRAME,
    )


# --- references -----------------------------------------------------------------------------


def read_rttm(path: Path) -> list[Turn]:
    turns = []
    for line in path.read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            start, duration = float(f[3]), float(f[4])
            turns.append((start, start + duration, f[7]))
    return turns


def read_wav(path: Path) -> npt.NDArray[np.float32]:
    with wave.open(str(path)) as w:
        if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path} is not 16 kHz mono 16-bit PCM")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def pyannote_sample() -> tuple[npt.NDArray[np.float32], list[Turn]]:
    """The pyannote-audio wheel's sample.wav (30 s, 2 speakers) and its reference turns."""
    dist = importlib.metadata.distribution("pyannote-audio")
    base = Path(str(dist.locate_file("pyannote/audio/sample")))
    return read_wav(base / "sample.wav"), read_rttm(base / "sample.rttm")


def decode(path: Path) -> npt.NDArray[np.float32]:
    """Any audio file -> float32 mono 16 kHz, with PyAV (in process: many short files)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


_FILLETS_NAME = re.compile(r"^(?P<scene>.+)-(?P<who>[mv])-(?P<line>[^.]+)\.ogg$")


def fillets_lines(language: str) -> dict[str, list[Path]]:
    """Voice lines of fillets-ng's two actors in `language` ("cs", "nl"): the small fish ("m",
    malá ryba) and the big fish ("v", velká ryba), keyed "<language>-m" / "<language>-v"."""
    found: dict[str, list[Path]] = {}
    for path in sorted(FILLETS.glob(f"sound/*/{language}/*.ogg")):
        match = _FILLETS_NAME.match(path.name)
        if match:
            found.setdefault(f"{language}-{match['who']}", []).append(path)
    return found


def librivox_lines() -> list[Path]:
    return sorted(LIBRIVOX.glob("*.wav"))


TRIM_DB = 30.0  # a line's speech: from the first to the last 10 ms frame within 30 dB of its peak


def trim(line: npt.NDArray[np.float32], db: float = TRIM_DB) -> npt.NDArray[np.float32]:
    """The line cut to its speech: fillets' lines carry leading silence and long reverb tails
    (the game is under water), which no reference would count as speech."""
    n = len(line) // 160
    if n == 0:
        return line
    energy = 10 * np.log10(np.square(line[: n * 160].reshape(n, 160)).mean(axis=1) + 1e-12)
    active = np.flatnonzero(energy >= energy.max() - db)
    return line[active[0] * 160 : (active[-1] + 1) * 160]


def conversation(
    voices: dict[str, list[npt.NDArray[np.float32]]],
    turns: int,
    rng: np.random.Generator,
    *,
    gap: tuple[float, float] = (0.2, 0.8),
    min_line: float = 0.8,
) -> tuple[npt.NDArray[np.float32], list[Turn]]:
    """Lines of the given voices (trimmed to their speech), speakers taking turns (never the same
    twice in a row, each line used once), separated by random silent gaps; returns the audio and
    its exact turns. Pauses inside a line count as speech, as in a hand-made reference."""
    pools = {
        who: [t for t in map(trim, lines) if len(t) >= min_line * RATE]
        for who, lines in voices.items()
    }
    for pool in pools.values():
        rng.shuffle(pool)  # type: ignore[arg-type]
    pieces: list[npt.NDArray[np.float32]] = []
    reference: list[Turn] = []
    t = 0
    previous = None
    for _ in range(turns):
        options = [w for w, pool in pools.items() if pool and w != previous]
        if not options:
            break
        who = options[int(rng.integers(len(options)))]
        line = pools[who].pop()
        silence = np.zeros(int(rng.uniform(*gap) * RATE), dtype=np.float32)
        pieces += [silence, line]
        t += len(silence)
        reference.append((t / RATE, (t + len(line)) / RATE, who))
        t += len(line)
        previous = who
    pieces.append(np.zeros(int(0.5 * RATE), dtype=np.float32))
    return np.concatenate(pieces), reference
