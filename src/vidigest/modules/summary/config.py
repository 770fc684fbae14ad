"""The knobs of the extractive summary (chapters, abstract, key points, titles)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExtractiveConfig:
    # "optimal": the partition maximising chapter coherence with a per-chapter cost
    # (segmentation.segment_optimal); "tiling": TextTiling with a permutation test (the previous
    # default, kept to be compared with in bench/chapters_spoken.py)
    segmenter: str = "optimal"
    chapter_penalty: float = 1.2  # per-chapter cost, times sqrt(sentences); higher: fewer chapters
    # "subject": the chapter's own subject word(s) (titles.chapter_titles); "tfidf": two TF-IDF
    # key phrases joined by a comma (the previous default)
    titles: str = "subject"
    # TextTiling ("tiling") only:
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
    # abstract and key point relevance: embedding centrality + this much lexical centrality
    # (text.lexical_centrality, standardised); 0: embeddings only (the previous default). 0.5
    # chosen on ACLSum validation papers (0.4-0.6 within 0.6 R-1 of each other)
    lexical_weight: float = 0.5
    abstract_sentences: int | None = None  # None: one per chapter, 2..4
    # key points leave out the abstract's sentences (they would repeat what the reader just read)
    key_points_avoid_abstract: bool = True
    max_title_words: int = 4
    seed: int = 0

    @classmethod
    def previous(cls, **changes: object) -> ExtractiveConfig:
        """The chapters and titles of the previous default (TextTiling, TF-IDF titles), for the
        benchmarks' before/after comparison in one run."""
        return cls(segmenter="tiling", titles="tfidf", **changes)  # type: ignore[arg-type]
