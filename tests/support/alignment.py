"""Speech with known word boundaries, for the word aligner's tests and bench/alignment.py.

- `spoken_words`: an utterance built word by word: each word is synthesised alone by the Debian
  `espeak-ng` CLI, cut to its speech (30 dB below its peak) and the words are joined with
  seeded gaps of 0-250 ms (sometimes none: words run into each other). Every word's start and
  end are known to the sample.
- `real_utterances`: real read speech (pocketsphinx-testdata: the LibriVox reader's lines and
  the "cards" recordings), whole files (with their own background noise) joined with 0.3-1.0 s
  pauses. Only the first word's start and the last word's end of each line are scored, and
  they are estimated, not labelled: the first and last 10 ms frame whose energy is 15 dB above
  the line's noise floor (its 10th percentile). The LibriVox floor is ~30 dB below the peak, so
  a peak-relative cut would mark noise as speech. Expect ~20-30 ms of uncertainty in them.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tests.support.diarization import RATE, decode, trim

F32 = npt.NDArray[np.float32]
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
VOICES = ("en-us", "en-gb-x-rp", "en-us+f3", "en-gb-scotland")


@dataclass(frozen=True)
class RefWord:
    text: str
    start: float | None  # None: not known (inside a real line)
    end: float | None


def espeak_word(word: str, voice: str, speed: int, workdir: Path) -> F32:
    out = workdir / "w.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), word],
        check=True,
        capture_output=True,
    )
    return trim(decode(out))


def spoken_words(
    text: str, *, voice: str = "en-us", speed: int = 165, seed: int = 0
) -> tuple[F32, list[RefWord]]:
    """`text` spoken word by word with exact word boundaries (0.4 s of silence at both ends)."""
    rng = np.random.default_rng(seed)
    lead = np.zeros(int(0.4 * RATE), np.float32)
    parts: list[F32] = [lead]
    refs: list[RefWord] = []
    t = lead.size
    with tempfile.TemporaryDirectory() as tmp:
        for i, word in enumerate(text.split()):
            if i:
                gap = 0 if rng.random() < 0.3 else int(rng.uniform(0.03, 0.25) * RATE)
                parts.append(np.zeros(gap, np.float32))
                t += gap
            audio = espeak_word(re.sub(r"[^\w'-]", "", word), voice, speed, Path(tmp))
            refs.append(RefWord(word, t / RATE, (t + audio.size) / RATE))
            parts.append(audio)
            t += audio.size
    parts.append(lead)
    return np.concatenate(parts), refs


def _lines() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    pattern = re.compile(r"<s>(.*)</s>\s*\((.+)\)")
    for folder, listing in (("librivox", "transcription"), ("cards", "cards.transcription")):
        for line in (POCKETSPHINX / folder / listing).read_text().splitlines():
            m = pattern.search(line)
            if not m:
                continue
            name = m[2].strip()
            found.append((POCKETSPHINX / folder / f"{name}.wav", m[1].strip()))
    return found


FLOOR_DB = 15.0


def speech_edges(line: F32) -> tuple[int, int]:
    """First and last sample of a line's speech: 10 ms frames 15 dB above its noise floor."""
    n = len(line) // 160
    energy = 10 * np.log10(np.square(line[: n * 160].reshape(n, 160)).mean(axis=1) + 1e-12)
    active = np.flatnonzero(energy >= np.percentile(energy, 10) + FLOOR_DB)
    return int(active[0]) * 160, (int(active[-1]) + 1) * 160


def real_utterances(seed: int = 0) -> tuple[F32, list[RefWord]]:
    """The real lines joined with pauses; only each line's edges are known."""
    rng = np.random.default_rng(seed)
    pause = np.zeros(int(0.5 * RATE), np.float32)
    parts: list[F32] = [pause]
    refs: list[RefWord] = []
    t = pause.size
    for path, text in _lines():
        audio = decode(path)
        first, last = speech_edges(audio)
        words = text.split()
        for j, w in enumerate(words):
            refs.append(
                RefWord(
                    w,
                    (t + first) / RATE if j == 0 else None,
                    (t + last) / RATE if j == len(words) - 1 else None,
                )
            )
        parts.append(audio)
        t += audio.size
        gap = int(rng.uniform(0.3, 1.0) * RATE)
        parts.append(np.zeros(gap, np.float32))
        t += gap
    return np.concatenate(parts), refs


def normalise(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def matched(
    refs: list[RefWord], hyp: list[tuple[str, float, float]]
) -> list[tuple[RefWord, tuple[str, float, float]]]:
    """Reference words paired with the recognised words of the same text, in order (difflib's
    matching blocks), so recognition errors are left out of the timing error."""
    import difflib

    a = [normalise(r.text) for r in refs]
    b = [normalise(h[0]) for h in hyp]
    pairs = []
    for block in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            pairs.append((refs[block.a + k], hyp[block.b + k]))
    return pairs


def boundary_errors(
    pairs: list[tuple[RefWord, tuple[str, float, float]]],
) -> npt.NDArray[np.float64]:
    """Absolute errors (s) of every known start and end."""
    errs: list[float] = []
    for ref, (_, start, end) in pairs:
        if ref.start is not None:
            errs.append(abs(start - ref.start))
        if ref.end is not None:
            errs.append(abs(end - ref.end))
    return np.asarray(errs, dtype=np.float64)
