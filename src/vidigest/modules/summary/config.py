"""The knobs of the extractive summary (chapters, abstract, key points, titles)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExtractiveConfig:
    min_chapter_seconds: float = 30.0
    min_chapter_sentences: int = 3
    seconds_per_chapter: float = 60.0  # at most one chapter per this much talk
    window: int | None = None  # sentences each side of a gap; None: sqrt(n) within the bounds
    min_window: int = 3
    max_window: int = 10
    smoothing: int = 3  # moving-average width over gaps (odd)
    tiling_cutoff: bool = True  # depth > mean - std/2 of valley depths (TextTiling)
    null_permutations: int = 64
    null_quantile: float | None = 0.6  # depth > this quantile of the shuffled-order maximum
    refine: bool = True
    mmr_lambda: float = 0.7
    abstract_sentences: int | None = None  # None: one per chapter, 2..4
    # key points leave out the abstract's sentences (they would repeat what the reader just read)
    key_points_avoid_abstract: bool = True
    max_title_words: int = 4
    seed: int = 0
