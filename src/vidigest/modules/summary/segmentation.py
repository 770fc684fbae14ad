"""Chapter boundaries over sentence embeddings: an optimal partition (the default) or TextTiling.

A chapter is a run of sentences about one thing, so its sentence embeddings point the same way and
their sum is long: n unit vectors with a common direction sum to about n * m (m: the norm of
their mean), while n unrelated ones sum to about sqrt(n). Half of the talk's mean embedding is
first taken off every sentence embedding (what all sentences share, MiniLM's common direction and
the talk's general subject, says little about where its topics change), and the rows are scaled
back to unit length; then the chapters are the partition of the sentences that maximises

    sum over chapters c of ( ||sum of c's sentence embeddings|| - penalty * sqrt(len(c)) )

i.e. each chapter's coherence beyond what as many unrelated sentences would show (the coherence
of Alemi & Ginsparg 2015, made global with a per-chapter cost as in optimal partitioning),
found exactly by dynamic programming in O(n^2 d). Cutting a run at a topic change gains in
proportion to its length; cutting inside one topic gains only what sentence-to-sentence noise
gives, which the sqrt(len) cost absorbs however long the chapter (a constant per-chapter cost
split long chapters into their sub-topics and left short talks under-split). The count follows
the content: nothing ties it to the duration, and no significance test needs many sentences
before a change counts (the previous method, TextTiling with a permutation test, found 3 of 13
topic changes on 2-5 minute talks).

`penalty` (1.2) and the centring (half the mean) were chosen on dev data only: the dev half of
the spoken benchmark (bench/chapters_spoken.py; boundary F1 >= 0.90 for penalties 0.9-1.3),
stitched ACLSum validation papers (Pk <= 0.10 for 1.1 and up) and single ACLSum validation
papers (one topic each): 1.2 is the middle of the range where both hold. Fully centred,
single-topic papers were cut into 3.5 chapters on average (the whole talk's centred sum is
zero, so one chapter looks incoherent); not centred, stitched texts were under-split (Pk 0.106)
for the same spoken F1. docs/benchmarks.md has the sensitivity to the penalty. Constraints:
every chapter lasts at least `min_seconds` (scaled with the video: duration / 30, within
15 s .. 3 min) and holds at least `min_sentences` sentences. Boundaries fall on sentence starts
by construction.

The previous method, `segmenter="tiling"` (kept for comparison). At each gap between sentences,
the cosine between the mean embedding of the `window` (sqrt(n), 3..10) sentences before and after
it; the curve is smoothed, and each valley gets a depth score
(how far the curve climbs back on both sides). How many chapters: a valley is a boundary when it
is deeper than what chance gives, i.e. than the `null_quantile`-quantile of the deepest valley of
the same curve over randomly shuffled sentence orders (a permutation test; no topic structure by
construction), and than the TextTiling cut-off mean - std/2 of the valley depths. Deepest valleys
are taken first, keeping every chapter >= 30 s and >= 3 sentences and at most one chapter per
`seconds_per_chapter`; each boundary is then moved (within +-window/2) to the sentence that makes
the two chapters most coherent. On 30 stitched ACLSum texts (~2400 words, 4.1 topics each) this
gave Pk 0.134 with 0.85x the true number of chapters; on single-topic texts (~300 s) 0.42 extra
chapters.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vidigest.modules.summary.config import ExtractiveConfig
from vidigest.modules.summary.text import Sentence
from vidigest.modules.summary.vectors import F64, rows_unit


def gap_similarities(emb: npt.NDArray[np.floating[Any]], window: int) -> F64:
    """cos(mean of `window` rows before gap g, mean of `window` rows from g), g = 1..n-1.

    `emb` may be (n, d) or a stack (p, n, d) of orderings; the result is (n-1,) or (p, n-1).
    """
    n = emb.shape[-2]
    zero = np.zeros((*emb.shape[:-2], 1, emb.shape[-1]), dtype=emb.dtype)
    csum = np.concatenate([zero, np.cumsum(emb, axis=-2)], axis=-2)  # csum[i] = sum(emb[:i])
    g = np.arange(1, n)
    lo = np.maximum(g - window, 0)
    hi = np.minimum(g + window, n)
    left = rows_unit(csum[..., g, :] - csum[..., lo, :])
    right = rows_unit(csum[..., hi, :] - csum[..., g, :])
    return np.asarray((left * right).sum(axis=-1), dtype=np.float64)


def smooth(curve: F64, width: int) -> F64:
    if width <= 1 or curve.shape[-1] < 3:
        return curve
    half = width // 2
    padded = np.concatenate(
        [
            np.repeat(curve[..., :1], half, axis=-1),
            curve,
            np.repeat(curve[..., -1:], half, axis=-1),
        ],
        axis=-1,
    )
    kernel = np.ones(width) / width
    if curve.ndim == 1:
        return np.convolve(padded, kernel, mode="valid")
    return np.stack([np.convolve(row, kernel, mode="valid") for row in padded])


def depth_scores(sim: F64) -> tuple[F64, npt.NDArray[np.bool_]]:
    """TextTiling depth of every gap and which gaps are valleys, in O(m).

    depth[i] = (highest point reached climbing left from i) + (climbing right) - 2 sim[i];
    a valley is strictly below its left neighbour and not above its right one (a flat bottom
    counts once).
    """
    m = len(sim)
    left = np.empty(m)
    right = np.empty(m)
    for i in range(m):
        left[i] = left[i - 1] if i > 0 and sim[i - 1] >= sim[i] else sim[i]
    for i in range(m - 1, -1, -1):
        right[i] = right[i + 1] if i < m - 1 and sim[i + 1] >= sim[i] else sim[i]
    depth = left + right - 2.0 * sim
    valley = np.ones(m, dtype=bool)
    valley[1:] &= sim[1:] < sim[:-1]
    valley[:-1] &= sim[:-1] <= sim[1:]
    return depth, valley


def _max_valley_depth(sims: F64) -> F64:
    out = np.zeros(sims.shape[0])
    for r, row in enumerate(sims):
        d, v = depth_scores(row)
        out[r] = d[v].max() if v.any() else 0.0
    return out


@dataclass(frozen=True)
class Segmentation:
    starts: tuple[int, ...]  # index of each chapter's first sentence (starts[0] == 0)
    window: int
    max_chapters: int
    cutoff: float
    depths: tuple[float, ...]  # depth of each chosen boundary


def _valid(
    bounds: Sequence[int], starts_t: Sequence[float], duration: float, cfg: ExtractiveConfig
) -> bool:
    n = len(starts_t)
    for a, z in itertools.pairwise(bounds):
        t0 = 0.0 if a == 0 else starts_t[a]
        t1 = duration if z == n else starts_t[z]
        if z - a < cfg.min_chapter_sentences or t1 - t0 < cfg.min_chapter_seconds:
            return False
    return True


def _refine(
    bounds: list[int],
    emb: F64,
    radius: int,
    starts_t: Sequence[float],
    duration: float,
    cfg: ExtractiveConfig,
) -> list[int]:
    """Move each inner boundary within +-radius sentences to where the two chapters it separates are
    most coherent: max ||sum of left embeddings|| + ||sum of right embeddings|| (Alemi & Ginsparg).
    The smoothed curve finds a shift; this places it on the sentence where it happens."""
    csum = np.concatenate([np.zeros((1, emb.shape[1])), np.cumsum(emb, axis=0)])
    out = list(bounds)
    for _ in range(2):
        for k in range(1, len(out) - 1):
            a, z = out[k - 1], out[k + 1]
            best, best_score = out[k], -math.inf
            for b in range(out[k] - radius, out[k] + radius + 1):
                if not (a < b < z):
                    continue
                trial = [*out[:k], b, *out[k + 1 :]]
                if not _valid(trial, starts_t, duration, cfg):
                    continue
                score = float(np.linalg.norm(csum[b] - csum[a]) + np.linalg.norm(csum[z] - csum[b]))
                if score > best_score + 1e-9:
                    best, best_score = b, score
            out[k] = best
    return out


CENTRE_FRACTION = 0.5  # of the talk's mean embedding taken off every sentence embedding
GRAM_MAX_SENTENCES = 4000


@dataclass(frozen=True)
class ChapterLimits:
    min_sentences: int = 2
    min_seconds_floor: float = 15.0
    min_seconds_ceiling: float = 180.0
    min_fraction: float = 1 / 30  # of the duration

    def min_seconds(self, duration: float) -> float:
        return float(
            np.clip(duration * self.min_fraction, self.min_seconds_floor, self.min_seconds_ceiling)
        )


def segment_optimal(
    emb: F64,
    starts_t: Sequence[float],
    duration: float,
    penalty: float = 1.2,
    limits: ChapterLimits | None = None,
) -> list[int]:
    """Index of each chapter's first sentence (the first is 0), for sentence embeddings `emb`
    (one row per sentence) whose sentences start at `starts_t` seconds."""
    limits = limits or ChapterLimits()
    n = emb.shape[0]
    min_s = limits.min_seconds(duration)
    if n < 2 * limits.min_sentences or duration < 2 * min_s:
        return [0]
    centred = emb - CENTRE_FRACTION * emb.mean(axis=0)
    centred /= np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-9)
    csum = np.concatenate([np.zeros((1, emb.shape[1])), np.cumsum(centred, axis=0)])
    sq = np.einsum("ij,ij->i", csum, csum)
    # chapter start time of a chapter beginning at sentence i (0 for the first), end time of a
    # chapter ending before sentence j (the duration for the last)
    t_start = np.maximum.accumulate(np.array([0.0, *starts_t[1:]], dtype=np.float64))
    t_end = np.array([0.0, *starts_t[1:], duration], dtype=np.float64)
    sqrt_len = np.sqrt(np.arange(n + 1, dtype=np.float64))
    # all prefix-sum dot products in one matrix product (one BLAS call, n^2 floats: 26 MB for
    # 1,800 sentences); row by row above GRAM_MAX_SENTENCES to keep memory flat
    gram = csum @ csum.T if n <= GRAM_MAX_SENTENCES else None
    best = np.full(n + 1, -math.inf)
    best[0] = 0.0
    back = np.zeros(n + 1, dtype=np.int64)
    for j in range(limits.min_sentences, n + 1):
        hi = j - limits.min_sentences  # last allowed start
        # allowed starts: i <= hi and t_end[j] - t_start[i] >= min_s
        i_max = min(hi, int(np.searchsorted(t_start, t_end[j] - min_s, side="right")) - 1)
        if i_max < 0:
            continue
        m = i_max + 1  # candidate starts 0..i_max; unreachable ones have best == -inf
        dots = gram[j, :m] if gram is not None else csum[:m] @ csum[j]
        norm2 = sq[j] + sq[:m] - 2.0 * dots
        score = (
            best[:m] + np.sqrt(np.maximum(norm2, 0.0)) - penalty * sqrt_len[j - m + 1 : j + 1][::-1]
        )
        k = int(np.argmax(score))
        if not math.isfinite(score[k]):
            continue
        best[j] = score[k]
        back[j] = k
    starts: list[int] = []
    j = n
    while j > 0:
        i = int(back[j])
        starts.append(i)
        j = i
    return sorted(starts)


def segment(
    sentences: Sequence[Sentence], emb: F64, duration: float, cfg: ExtractiveConfig
) -> Segmentation:
    """Chapter starts (sentence indices) for `sentences` with unit embeddings `emb`."""
    if cfg.segmenter == "optimal":
        starts = segment_optimal(emb, [s.start for s in sentences], duration, cfg.chapter_penalty)
        return Segmentation(tuple(starts), 0, len(sentences), cfg.chapter_penalty, ())
    if cfg.segmenter != "tiling":
        raise ValueError(f"unknown segmenter {cfg.segmenter!r}: optimal or tiling")
    n = len(sentences)
    cap = min(
        max(1, round(duration / cfg.seconds_per_chapter)),
        n // cfg.min_chapter_sentences,
        max(1, int(duration // cfg.min_chapter_seconds)),
    )
    window = cfg.window or int(np.clip(round(math.sqrt(n)), cfg.min_window, cfg.max_window))
    if cap <= 1 or n < 2 * cfg.min_chapter_sentences:
        return Segmentation((0,), window, max(cap, 1), math.inf, ())
    sim = smooth(gap_similarities(emb, window), cfg.smoothing)
    depth, valley = depth_scores(sim)
    cutoff = 0.0
    if cfg.tiling_cutoff and valley.any():
        vd = depth[valley]
        cutoff = float(vd.mean() - vd.std() / 2)
    if cfg.null_quantile is not None:
        # The same statistic on shuffled sentence orders: no topic structure by construction.
        rng = np.random.default_rng(cfg.seed)
        perms = np.stack([rng.permutation(n) for _ in range(cfg.null_permutations)])
        null_sim = smooth(gap_similarities(emb.astype(np.float32)[perms], window), cfg.smoothing)
        cutoff = max(cutoff, float(np.quantile(_max_valley_depth(null_sim), cfg.null_quantile)))

    starts_t = [s.start for s in sentences]
    chosen: list[int] = []  # sentence index each accepted boundary starts
    for gi in np.argsort(-depth, kind="stable"):
        if len(chosen) + 1 >= cap or depth[gi] <= cutoff:
            break
        if valley[gi] and _valid([*sorted([0, *chosen, int(gi) + 1]), n], starts_t, duration, cfg):
            chosen.append(int(gi) + 1)
    depth_of = {b: round(float(depth[b - 1]), 4) for b in chosen}
    bounds = [*sorted([0, *chosen]), n]
    if cfg.refine and len(bounds) > 2:
        refined = _refine(bounds, emb, max(1, window // 2), starts_t, duration, cfg)
    else:
        refined = bounds
    depths = tuple(depth_of[b] for b in bounds[1:-1])
    return Segmentation(tuple(refined[:-1]), window, cap, cutoff, depths)
