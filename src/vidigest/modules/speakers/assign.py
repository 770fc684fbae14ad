"""Speakers onto a transcript: each word gets the speaker of the diarization turn it overlaps
most, and segments split where the speaker changes.

Pure functions over the shared types (no numpy, no database), so they are exact and cheap to
test, and the step calls them inside its completing transaction.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from vidigest.common.types import Segment, SpeakerTurn, Word


class _Turns:
    """Turns sorted by start, with a running maximum of their ends, so the turns a span may
    overlap are found by bisection even if the turns given overlap one another."""

    def __init__(self, turns: Sequence[SpeakerTurn]) -> None:
        self.turns = sorted(turns, key=lambda t: (t.start, t.end))
        self.starts = [t.start for t in self.turns]
        self.reach: list[float] = []  # reach[i]: the latest end among turns[0..i]
        self.reach_at: list[int] = []  # the index of that turn
        for i, t in enumerate(self.turns):
            if not self.reach or t.end > self.reach[-1]:
                self.reach.append(t.end)
                self.reach_at.append(i)
            else:
                self.reach.append(self.reach[-1])
                self.reach_at.append(self.reach_at[-1])

    def overlaps(self, start: float, end: float) -> dict[str, float]:
        """Seconds of [start, end] each speaker's turns cover."""
        seconds: dict[str, float] = {}
        first = bisect_left(self.reach, start)  # turns before it all end by `start`
        for t in self.turns[first : bisect_left(self.starts, end)]:
            overlap = min(end, t.end) - max(start, t.start)
            if overlap > 0:
                seconds[t.speaker] = seconds.get(t.speaker, 0.0) + overlap
        return seconds

    def nearest(self, start: float, end: float) -> str:
        """The speaker of the turn closest to [start, end] (a turn holding it is at distance
        0; ties go to the earlier turn)."""
        first = bisect_left(self.reach, start)
        last = bisect_left(self.starts, end)
        candidates = set(range(first, min(last + 1, len(self.turns))))
        if first > 0:
            candidates.add(self.reach_at[first - 1])
        best = min(
            candidates,
            key=lambda i: (
                max(0.0, self.turns[i].start - end, start - self.turns[i].end),
                self.turns[i].start,
            ),
        )
        return self.turns[best].speaker

    def speaker(self, start: float, end: float) -> str:
        """The speaker covering most of [start, end]; the nearest one if none covers any."""
        seconds = self.overlaps(start, end)
        if not seconds:
            return self.nearest(start, end)
        return max(seconds, key=lambda s: seconds[s])  # first seen wins a tie


def assign_speakers(
    segments: Sequence[Segment], turns: Sequence[SpeakerTurn]
) -> tuple[Segment, ...]:
    """The segments with a speaker on every word and segment.

    A word takes the speaker of the turn overlapping it most (the nearest turn when none does);
    a segment whose words change speaker is split there, each part's text rebuilt from its
    words; a segment without words takes the speaker whose turns cover most of it. Segments are
    renumbered from the first one's index. Without turns (diarization off, or no speech found)
    the segments come back as they were."""
    if not turns:
        return tuple(segments)
    index = _Turns(turns)
    out: list[Segment] = []
    for segment in segments:
        if not segment.words:
            speaker = index.speaker(segment.start, segment.end)
            out.append(segment.model_copy(update={"speaker": speaker}))
            continue
        words = [
            w.model_copy(update={"speaker": index.speaker(w.start, w.end)}) for w in segment.words
        ]
        out.extend(_split(segment, words))
    first = segments[0].index if segments else 0
    return tuple(s.model_copy(update={"index": first + i}) for i, s in enumerate(out))


def _split(segment: Segment, words: list[Word]) -> list[Segment]:
    """One segment per run of words of one speaker; the segment itself when there is one run.
    The first part starts where the segment did, the last ends where it did, and the parts
    between are bounded by their words."""
    runs: list[list[Word]] = []
    for w in words:
        if runs and runs[-1][-1].speaker == w.speaker:
            runs[-1].append(w)
        else:
            runs.append([w])
    if len(runs) == 1:
        return [segment.model_copy(update={"words": tuple(words), "speaker": words[0].speaker})]
    parts = []
    for n, run in enumerate(runs):
        start = segment.start if n == 0 else run[0].start
        end = segment.end if n == len(runs) - 1 else run[-1].end
        parts.append(
            Segment(
                index=segment.index,
                start=start,
                end=max(start, end),
                text="".join(w.text for w in run),
                words=tuple(run),
                speaker=run[0].speaker,
            )
        )
    return parts


def talk_time(turns: Sequence[SpeakerTurn]) -> dict[str, float]:
    """Seconds each speaker talks, in the order speakers first appear."""
    seconds: dict[str, float] = {}
    for t in sorted(turns, key=lambda t: (t.start, t.end)):
        seconds[t.speaker] = seconds.get(t.speaker, 0.0) + max(0.0, t.end - t.start)
    return seconds
