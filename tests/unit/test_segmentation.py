"""The default chapter segmentation (an optimal partition by dynamic programming) on sentence
embeddings whose topics are known: many short and few long chapters, one topic, a long lecture.

The embeddings are synthetic (a unit topic direction plus noise, as loose as MiniLM's own
sentence-to-sentence spread: cosine ~0.4 between two sentences of one topic), so the true
boundaries are exact and the test needs no model.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vidigest.modules.summary import segmentation
from vidigest.modules.summary.config import ExtractiveConfig
from vidigest.modules.summary.segmentation import ChapterLimits, segment, segment_optimal
from vidigest.modules.summary.text import Sentence

DIM = 64
SECONDS_PER_SENTENCE = 6.0


def talk(lengths: list[int], seed: int, noise: float = 1.2) -> tuple[np.ndarray, list[int]]:
    """Unit sentence embeddings for chapters of `lengths` sentences, and the true starts."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in lengths:
        topic = rng.normal(size=DIM)
        topic /= np.linalg.norm(topic)
        for _ in range(n):
            v = topic + noise * rng.normal(size=DIM) / np.sqrt(DIM)
            rows.append(v / np.linalg.norm(v))
    starts = [0, *itertools.accumulate(lengths[:-1])]
    return np.asarray(rows), starts


def times(n: int) -> list[float]:
    return [i * SECONDS_PER_SENTENCE for i in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_short_and_long_chapters_in_one_short_talk(seed: int) -> None:
    # 3-sentence chapters (18 s) beside 20-sentence ones: a significance test that needs many
    # sentences per chapter (the previous method) starves the short ones
    lengths = [4, 12, 3, 20, 5, 8]
    emb, true_starts = talk(lengths, seed)
    n = len(emb)
    assert segment_optimal(emb, times(n), n * SECONDS_PER_SENTENCE) == true_starts


def test_the_default_config_segments_this_way() -> None:
    emb, true_starts = talk([5, 9, 4, 7], seed=7)
    n = len(emb)
    sentences = [
        Sentence(index=i, text=f"s{i}", start=t, end=t + 5.0) for i, t in enumerate(times(n))
    ]
    seg = segment(sentences, emb, n * SECONDS_PER_SENTENCE, ExtractiveConfig())
    assert list(seg.starts) == true_starts


def test_one_topic_is_one_chapter() -> None:
    for seed in range(5):
        emb, _ = talk([60], seed)
        assert segment_optimal(emb, times(60), 60 * SECONDS_PER_SENTENCE) == [0]


def test_a_three_hour_lecture(monkeypatch: pytest.MonkeyPatch) -> None:
    """~1,800 sentences in 24 chapters of 30 to 120 sentences (3 to 12 minutes): the count and
    the places follow the content, and the minimum chapter length scales up (3 min here)."""
    rng = np.random.default_rng(3)
    lengths = [int(x) for x in rng.integers(30, 121, size=24)]
    emb, true_starts = talk(lengths, seed=3)
    n = len(emb)
    got = segment_optimal(emb, times(n), n * SECONDS_PER_SENTENCE)
    assert got == true_starts
    # past GRAM_MAX_SENTENCES the dot products are computed row by row: same result
    monkeypatch.setattr(segmentation, "GRAM_MAX_SENTENCES", 0)
    assert segment_optimal(emb, times(n), n * SECONDS_PER_SENTENCE) == true_starts


def test_minimum_chapter_length_scales_with_the_video() -> None:
    limits = ChapterLimits()
    assert limits.min_seconds(120.0) == 15.0  # a 2-minute clip: 15 s chapters are allowed
    assert limits.min_seconds(1800.0) == 60.0  # 30 minutes: 1 minute
    assert limits.min_seconds(3 * 3600.0) == 180.0  # 3 hours: 3 minutes
    # a 2-sentence "chapter" of 12 s inside a 6-minute talk is not allowed, however distinct
    emb, _ = talk([25, 2, 33], seed=1)
    n = len(emb)
    got = segment_optimal(emb, times(n), n * SECONDS_PER_SENTENCE)
    assert all(b - a >= 3 for a, b in itertools.pairwise([*got, n])), got


def test_penalty_sets_how_readily_a_chapter_is_split() -> None:
    emb, true_starts = talk([10, 10, 10], seed=11, noise=1.6)
    n = len(emb)
    duration = n * SECONDS_PER_SENTENCE
    assert segment_optimal(emb, times(n), duration, penalty=1.2) == true_starts
    assert segment_optimal(emb, times(n), duration, penalty=50.0) == [0]
    assert len(segment_optimal(emb, times(n), duration, penalty=0.0)) > 3


def test_too_short_for_two_chapters() -> None:
    emb, _ = talk([2, 1], seed=0)
    assert segment_optimal(emb, times(3), 18.0) == [0]
