"""Transcripts built from the three-topic talk script in samples/, the way Whisper delivers
them: segments of a fixed number of words that cut across sentences, with or without word
timestamps. Times are synthetic (~2.5 words/s, or spread over the true chapter times of the
narrated video), so the true topic changes are known exactly."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from tests.support.paths import SAMPLES
from vidigest.common.types import Segment, Transcript, Word


@dataclass
class Built:
    transcript: Transcript
    topic_starts: list[float]  # true start time of each topic
    sentence_times: dict[str, tuple[float, float]]  # sentence -> (first word start, last word end)


def load_topics() -> list[tuple[str, list[str]]]:
    """(title, sentences) of each `## ` section of the script."""
    md = (SAMPLES / "three_topics_talk.script.md").read_text(encoding="utf-8")
    parts = re.split(r"^## (.+)$", md, flags=re.MULTILINE)
    topics = []
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        sentences = [line.strip() for line in body.strip().splitlines() if line.strip()]
        topics.append((title.strip(), sentences))
    return topics


def build(
    topics: list[tuple[str, list[str]]],
    spans: list[tuple[float, float]] | None = None,
    words_per_second: float = 2.5,
    pause: float = 1.0,
    seg_words: int = 11,
    with_words: bool = True,
) -> Built:
    """A transcript of `topics` in order; topic i spoken over spans[i] or at words_per_second."""
    timed: list[tuple[str, float, float]] = []
    sentence_times: dict[str, tuple[float, float]] = {}
    topic_starts: list[float] = []
    t = 0.5
    for i, (_title, sentences) in enumerate(topics):
        tokens = [tok for s in sentences for tok in s.split()]
        if spans is not None:
            t, end = spans[i]
            per_char = (end - t) / sum(len(tok) + 1 for tok in tokens)
        else:
            per_char = 1.0 / words_per_second / 6.0  # ~6 characters per word with its space
        topic_starts.append(t)
        for sentence in sentences:
            first = len(timed)
            for tok in sentence.split():
                d = (len(tok) + 1) * per_char
                timed.append((tok, t, t + 0.85 * d))
                t += d
            sentence_times[sentence] = (timed[first][1], timed[-1][2])
        t += pause
    segments = []
    for k in range(0, len(timed), seg_words):
        chunk = timed[k : k + seg_words]
        words = tuple(Word(start=a, end=b, text=" " + w, probability=0.9) for w, a, b in chunk)
        segments.append(
            Segment(
                index=len(segments),
                start=chunk[0][1],
                end=chunk[-1][2],
                text=" " + " ".join(w for w, _, _ in chunk),
                words=words if with_words else (),
            )
        )
    duration = timed[-1][2] + 0.5
    return Built(
        Transcript(language="en", duration=duration, model="test", segments=tuple(segments)),
        topic_starts,
        sentence_times,
    )


def true_chapter_spans() -> list[tuple[float, float]]:
    chapters = json.loads((SAMPLES / "three_topics_talk.chapters.json").read_text("utf-8"))
    return [(float(c["start"]), float(c["end"])) for c in chapters]
