"""Windowed transcription: where a window of audio ends and how its segments are kept.

Long inputs are transcribed window by window (default 5 minutes of audio) so memory stays flat.
A window that is not the last one is cut before its last `guard_seconds` (words there may be cut
off): at the longest pause between the words Whisper heard within the preceding stretch (up to
15 s), or in continuous speech at the quietest word boundary, refined to the quietest 30 ms of
audio. Words before the cut are kept (a segment may be split at a word); the audio after it is
carried into the next window, so no word is cut at a boundary. Timestamps are offset by the window
start, kept monotonic and within the duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from vidigest.common.types import Segment, Word
from vidigest.modules.transcription.audio import SAMPLE_RATE

Audio = npt.NDArray[np.float32]

_ENERGY_FRAME = 0.03  # seconds: the cut lands in the quietest 30 ms within a pause
_PAUSE_SECONDS = 0.3  # a gap between words at least this long is a real pause


@dataclass
class RawSegment:
    """A segment in seconds relative to its window; words are (start, end, text, probability)."""

    start: float
    end: float
    text: str
    words: list[tuple[float, float, str, float]] = field(default_factory=list)


def to_raw_segment(segment: Any) -> RawSegment:
    words = [
        (float(w.start), float(w.end), str(w.word), float(w.probability))
        for w in (segment.words or [])
    ]
    if not words:  # keep the segment's span so it takes part in choosing the cut
        words = [(float(segment.start), float(segment.end), str(segment.text), 1.0)]
    return RawSegment(float(segment.start), float(segment.end), str(segment.text), words)


_SENTENCE_END = (".", "?", "!", "\u3002", "\uff1f", "\uff01")  # and the CJK full-width ones
# a full stop that ends no sentence: titles, initials ("J."), "e.g."
_ABBREVIATIONS = frozenset(
    ("mr.", "mrs.", "ms.", "dr.", "st.", "prof.", "sr.", "jr.", "vs.", "etc.", "e.g.", "i.e.")
)


def _ends_sentence(word: str) -> bool:
    word = word.strip().rstrip("\"'”)")
    if not word.endswith(_SENTENCE_END):
        return False
    bare = word.lower().lstrip("\"'“(")
    return not (bare in _ABBREVIATIONS or (len(bare) == 2 and bare[0].isalpha()))


def split_sentences(segment: RawSegment) -> list[RawSegment]:
    """A segment cut after each word that ends a sentence (its text rebuilt from its words).

    The batched decoder gives one segment per VAD chunk (up to 30 s): it decodes without
    timestamp tokens, because with them it drops the words after a chunk's last complete
    timestamp pair, which the sequential decoder would decode again from there. The word
    timestamps are there either way; they make segments of about a sentence, as Whisper's own
    timestamps do, so subtitle cues and stored segments stay short.
    """
    pieces: list[RawSegment] = []
    words: list[tuple[float, float, str, float]] = []
    for i, word in enumerate(segment.words):
        words.append(word)
        last = i == len(segment.words) - 1
        if last or _ends_sentence(word[2]):
            start = segment.start if not pieces else words[0][0]
            end = segment.end if last else word[1]
            text = segment.text if not pieces and last else "".join(w[2] for w in words)
            pieces.append(RawSegment(start, max(end, start), text, words))
            words = []
    return pieces or [segment]


def quietest(audio: Audio, lo: float, hi: float) -> tuple[float, float]:
    """(time, energy) of the quietest 30 ms frame centred within [lo, hi] seconds."""
    sr = SAMPLE_RATE
    frame = round(_ENERGY_FRAME * sr)
    a = max(0, round(lo * sr) - frame // 2)
    b = min(audio.size, round(hi * sr) + frame // 2)
    if b - a <= frame:
        return (lo + hi) / 2, float("inf")
    power = np.square(audio[a:b], dtype=np.float64)
    sums = np.convolve(power, np.ones(frame), mode="valid") / frame
    hop = max(1, round(0.005 * sr))
    i = int(np.argmin(sums[::hop])) * hop
    return (a + i + frame // 2) / sr, float(sums[i])


def choose_cut(audio: Audio, segments: list[RawSegment], guard: float, search: float) -> float:
    """Where a window that is not the last one ends (seconds into it).

    The cut lies in [limit - search, limit] (limit = window end - guard: words near the end of
    the window may be cut off, they are left to the next window). Among the gaps between
    transcribed words there (and the silence before the first / after the last word), the
    longest real pause wins; in continuous speech, the quietest word boundary. Within the chosen
    gap the cut is the quietest 30 ms of audio.
    """
    window_end = audio.size / SAMPLE_RATE
    limit = window_end - guard
    lo = max(0.5, limit - search)
    words = [w for seg in segments for w in seg.words]
    edges = [0.0] + [x for w in words for x in (w[0], w[1])] + [window_end]
    gaps: list[tuple[float, float]] = []
    for i in range(0, len(edges), 2):
        g_lo, g_hi = sorted((edges[i], edges[i + 1]))
        g_lo, g_hi = max(g_lo, lo), min(g_hi, limit)
        if g_hi >= g_lo:
            gaps.append((g_lo, g_hi))
    if not gaps:  # one word spans the whole search range
        return quietest(audio, lo, limit)[0]
    longest = max(gaps, key=lambda g: g[1] - g[0])
    if longest[1] - longest[0] >= _PAUSE_SECONDS:
        return quietest(audio, *longest)[0]
    pad = 0.05  # word timestamps are approximate: look a little around each boundary
    candidates = [
        quietest(audio, max(lo, g_lo - pad), min(limit, g_hi + pad)) for g_lo, g_hi in gaps
    ]
    return min(candidates, key=lambda c: c[1])[0]


def keep_before(segments: list[RawSegment], cut: float) -> list[RawSegment]:
    """The segments, and parts of segments, whose words have their midpoint before `cut`."""
    kept: list[RawSegment] = []
    for seg in segments:
        words = [w for w in seg.words if (w[0] + w[1]) / 2 < cut]
        if len(words) == len(seg.words):
            kept.append(seg)
        elif words:
            kept.append(RawSegment(seg.start, words[-1][1], "".join(w[2] for w in words), words))
    return kept


@dataclass
class Accumulator:
    """Collects segments in absolute time; keeps them non-empty, ordered and within bounds.
    A resumed transcription starts at the stored count and the end of the last stored segment."""

    first_index: int = 0
    _last_end: float = 0.0
    segments: list[Segment] = field(default_factory=list)

    def add(self, seg: RawSegment, offset: float, limit: float) -> None:
        text = seg.text.strip()
        if not text:
            return
        start = min(max(seg.start + offset, self._last_end), limit)
        end = min(max(seg.end + offset, start), limit)
        words: list[Word] = []
        cursor = start
        for w_start, w_end, w_text, probability in seg.words:
            word = w_text.strip()
            if not word:
                continue
            ws = min(max(w_start + offset, cursor), end)
            we = min(max(w_end + offset, ws), end)
            words.append(Word(start=ws, end=we, text=word, probability=probability))
            cursor = we
        self.segments.append(
            Segment(
                index=self.first_index + len(self.segments),
                start=start,
                end=end,
                text=text,
                words=tuple(words),
            )
        )
        self._last_end = end

    @property
    def last_end(self) -> float:
        """Where the next segment may start at the earliest."""
        return self._last_end

    def replace_from(self, position: int, segments: Sequence[Segment], floor: float) -> None:
        """Put `segments` (the same ones with refined times: word alignment) in place of those
        collected from `position` on, kept in order: none starts before `floor` (where the
        segments before them ended) or before the previous one's end."""
        kept: list[Segment] = []
        for seg in segments:
            start = max(seg.start, floor)
            end = max(seg.end, start)
            words = tuple(
                w.model_copy(update={"start": max(w.start, start), "end": max(w.end, start)})
                if w.start < start
                else w
                for w in seg.words
            )
            kept.append(seg.model_copy(update={"start": start, "end": end, "words": words}))
            floor = end
        self.segments[position:] = kept
        self._last_end = max(self._last_end, floor)
