"""Passages: what search finds and returns. A passage is a run of neighbouring segments of about
`TARGET_WORDS` words (a few sentences), so that words said across a segment boundary are
found together and an embedding has enough context to carry a meaning. Consecutive passages
overlap by about half, so every moment sits well inside some passage. A passage never spans a
change of speaker (diarized transcripts): search says who said it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vidigest.common.types import Segment

TARGET_WORDS = 60  # about four sentences of speech, 20-25 s; MiniLM reads up to 256 tokens
MAX_SEGMENTS = 12  # bounds a passage of very short segments


@dataclass(frozen=True)
class Passage:
    position: int
    first_segment: int  # segment indexes, both included
    last_segment: int
    start: float
    end: float
    text: str


def build_passages(segments: Sequence[Segment]) -> list[Passage]:
    """The passages of a transcript's segments (in time order), empty segments left out."""
    spoken = [s for s in segments if s.text.strip()]
    passages: list[Passage] = []
    i = 0
    while i < len(spoken):
        words = 0
        j = i
        while j < len(spoken) and (
            j == i
            or (
                words < TARGET_WORDS
                and j - i < MAX_SEGMENTS
                and spoken[j].speaker == spoken[i].speaker  # one speaker per passage
            )
        ):
            words += len(spoken[j].text.split())
            j += 1
        window = spoken[i:j]
        passages.append(
            Passage(
                position=len(passages),
                first_segment=window[0].index,
                last_segment=window[-1].index,
                start=window[0].start,
                end=window[-1].end,
                text=" ".join(s.text.strip() for s in window),
            )
        )
        if j >= len(spoken):
            break
        # the next passage starts in the middle of this one (about half overlaps), or where a
        # new speaker starts (no overlap across the change)
        middle = max(i + 1, i + (j - i) // 2)
        i = j if spoken[j].speaker != spoken[i].speaker else middle
    return passages
