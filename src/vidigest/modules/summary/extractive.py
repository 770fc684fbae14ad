"""Extractive summary of a transcript: chapters, abstract, key points and keywords.

Everything returned is quoted from the transcript: sentences are verbatim runs of its text and
key phrases are runs of its words (titles are key phrases, title-cased).

- Sentences are rebuilt from the segments (`text.split_sentences`) and embedded with MiniLM.
- Chapters: TextTiling on sentence embeddings. At each gap between sentences, the cosine between
  the mean embedding of the `window` (sqrt(n), 3..10) sentences before and after it; the curve is
  smoothed, and each valley gets a depth score (how far the curve climbs back on both sides). How
  many chapters: a valley is a boundary when it is deeper than what chance gives, i.e. than the
  `null_quantile`-quantile of the deepest valley of the same curve over randomly shuffled
  sentence orders (a permutation test; no topic structure by construction), and than the
  TextTiling cut-off mean - std/2 of the valley depths. Deepest valleys are taken first, keeping
  every chapter >= 30 s and >= 3 sentences and at most one chapter per `seconds_per_chapter`;
  each boundary is then moved (within +-window/2) to the sentence that makes the two chapters
  most coherent. On 30 stitched ACLSum texts (~2400 words, 4.1 topics each) this gave Pk 0.134
  with 0.85x the true number of chapters; on single-topic texts (~300 s) 0.42 extra chapters.
- Chapter title: its top TF-IDF 1-2-gram key phrases against the other chapters; summary: its
  sentence closest to the chapter's mean embedding.
- Abstract and key points: MMR over sentence embeddings (relevance = closeness to the document's,
  resp. the chapter's, centroid; penalty = closeness to sentences already chosen), in transcript
  order; key points are spread over chapters and leave out the abstract's sentences (which count
  as already chosen): on 100 ACLSum papers half the key points repeated an abstract sentence
  before, none after, and abstract + key points cover more of the reference (R-1 recall 53.7 ->
  62.1; bench/summary_eval.py).
- Keywords: YAKE candidates from each chapter, re-ranked by closeness to the chapter centroid
  (KeyBERT-style, same encoder) with MMR, taken round-robin over chapters, deduplicated.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vidigest.common.exceptions import EmptyTranscriptError
from vidigest.common.types import (
    Chapter,
    KeyPoint,
    NullProgress,
    ProgressReporter,
    Summary,
    Transcript,
)
from vidigest.modules.summary.encoder import SentenceEncoder
from vidigest.modules.summary.text import (
    FILLERS,
    STOPWORDS,
    Sentence,
    is_content_sentence,
    split_sentences,
    words_of,
)

METHOD = "extractive-minilm"
STAGE = "summarize"
_STEPS = 5

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


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


@dataclass(frozen=True)
class ExtractiveResult:
    """The summary and the structure it was built on (for the LLM path and the benchmark)."""

    summary: Summary
    sentences: tuple[Sentence, ...]
    bounds: tuple[int, ...]  # chapter c spans sentences[bounds[c] : bounds[c + 1]]
    abstract_idx: tuple[int, ...]
    key_point_idx: tuple[int, ...]


# --- small vector helpers -----------------------------------------------------------------------


def _unit(v: F64) -> F64:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _rows_unit(m: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    n = np.linalg.norm(m, axis=-1, keepdims=True)
    return np.asarray(m / np.where(n > 0, n, 1.0))


def _mmr(
    emb: F64,
    relevance: F64,
    candidates: Sequence[int],
    k: int,
    lam: float,
    selected: Sequence[int] = (),
) -> list[int]:
    """Maximal marginal relevance: up to k indices of `candidates`, best first."""
    chosen = list(selected)
    picked: list[int] = []
    pool = [c for c in candidates if c not in chosen]
    while pool and len(picked) < k:
        redundancy = (emb[pool] @ emb[chosen].T).max(axis=1) if chosen else np.zeros(len(pool))
        scores = lam * relevance[pool] - (1.0 - lam) * redundancy
        best = pool[int(np.argmax(scores))]
        picked.append(best)
        chosen.append(best)
        pool.remove(best)
    return picked


# --- chapters: TextTiling over embeddings -------------------------------------------------------


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
    left = _rows_unit(csum[..., g, :] - csum[..., lo, :])
    right = _rows_unit(csum[..., hi, :] - csum[..., g, :])
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


def segment(
    sentences: Sequence[Sentence], emb: F64, duration: float, cfg: ExtractiveConfig
) -> Segmentation:
    """Chapter starts (sentence indices) for `sentences` with unit embeddings `emb`."""
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


# --- key phrases ------------------------------------------------------------------------------


def _phrases(text: str, max_n: int = 2) -> list[str]:
    """1..max_n-grams of words within clauses; no stopword, filler or number at either end."""
    out: list[str] = []
    for piece in _split_clauses(text):
        toks = words_of(piece)
        for n in range(1, max_n + 1):
            for i in range(len(toks) - n + 1):
                gram = toks[i : i + n]
                if any(_bad_token(t) for t in (gram[0], gram[-1])):
                    continue
                if n > 1 and any(t in STOPWORDS for t in gram):
                    continue
                out.append(" ".join(gram))
    return out


_WORD_RE = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")


def _split_clauses(text: str) -> list[str]:
    return [p for p in re.split(r"[.,;:!?()\[\]\"\u2014\u2013]+|\s-\s", text) if p.strip()]


def _bad_token(tok: str) -> bool:
    return tok in STOPWORDS or tok in FILLERS or len(tok) < 2 or any(c.isdigit() for c in tok)


def tfidf_phrases(docs: Sequence[str], top: int = 8) -> list[list[tuple[str, float]]]:
    """Per document, its top 1-2-gram phrases by TF-IDF against the other documents.

    Plural and singular count as one phrase, shown in its most frequent form.
    """
    counts: list[Counter[str]] = []
    surface: dict[str, Counter[str]] = {}
    for d in docs:
        c: Counter[str] = Counter()
        for phrase in _phrases(d):
            key = " ".join(_stem(t) for t in phrase.split())
            c[key] += 1
            surface.setdefault(key, Counter())[phrase] += 1
        counts.append(c)
    df: Counter[str] = Counter()
    for c in counts:
        df.update(c.keys())
    n_docs = len(docs)
    result: list[list[tuple[str, float]]] = []
    for c in counts:
        scored = []
        for key, tf in c.items():
            idf = math.log((1 + n_docs) / (1 + df[key])) + 1.0
            length_bonus = 1.0 + 0.5 * key.count(" ")  # a 2-gram names a thing more precisely
            scored.append((surface[key].most_common(1)[0][0], tf * idf * length_bonus))
        scored.sort(key=lambda x: (-x[1], x[0]))
        result.append(scored[:top])
    return result


def _title_case(phrase: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in phrase.split())


def make_title(phrases: Sequence[tuple[str, float]], max_words: int) -> str:
    picked: list[str] = []
    used: set[str] = set()
    n_words = 0
    for phrase, _ in phrases:
        toks = phrase.split()
        stems = {_stem(t) for t in toks}
        if stems & used:
            continue
        if n_words + len(toks) > max_words:
            continue
        picked.append(phrase)
        used |= stems
        n_words += len(toks)
        if len(picked) == 2:
            break
    return ", ".join(_title_case(p) for p in picked)


def _stem(tok: str) -> str:
    """Singular of a plural, roughly: enough to count "bicycle" and "bicycles" as one word."""
    if len(tok) > 4 and tok.endswith("ies"):
        return tok[:-3] + "y"
    if len(tok) > 4 and tok.endswith(("sses", "xes", "ches", "shes", "zes", "oes")):
        return tok[:-2]
    if len(tok) > 3 and tok.endswith("s") and not tok.endswith(("ss", "us", "is")):
        return tok[:-1]
    return tok


def _covers(a: str, b: str) -> bool:
    """True when phrase `b` repeats phrase `a` (same words, plural-insensitive, or contains it)."""
    sa = [_stem(t) for t in a.split()]
    sb = [_stem(t) for t in b.split()]
    k = len(sa)
    return any(sb[i : i + k] == sa for i in range(len(sb) - k + 1)) or a in b


# --- the summarizer ----------------------------------------------------------------------------


class ExtractiveSummarizer:
    """Chapters, abstract, key points and keywords, all quoted from the transcript."""

    def __init__(
        self, encoder: SentenceEncoder | None = None, config: ExtractiveConfig | None = None
    ) -> None:
        self.encoder = encoder or SentenceEncoder()
        self.config = config or ExtractiveConfig()

    def summarize(
        self, transcript: Transcript, progress: ProgressReporter | None = None
    ) -> Summary:
        return self.run(transcript, progress).summary

    def run(
        self, transcript: Transcript, progress: ProgressReporter | None = None
    ) -> ExtractiveResult:
        """The summary with the sentences, chapter bounds and chosen sentence indices."""
        progress = progress or NullProgress()
        cfg = self.config
        t0 = time.perf_counter()
        sentences = split_sentences(transcript)
        if not sentences:
            raise EmptyTranscriptError("nothing was said: the transcript is empty")
        progress.start(STAGE, float(_STEPS))
        n = len(sentences)
        last_end = max(s.end for s in sentences)
        duration = max(float(transcript.duration), last_end)
        candidates = [i for i, s in enumerate(sentences) if is_content_sentence(s.text)]
        if not candidates:  # all short or filler: still say something, from what was said
            candidates = list(range(n))
        progress.update(STAGE, 1.0)

        emb = self.encoder.encode([s.text for s in sentences]).astype(np.float64)
        progress.update(STAGE, 2.0)

        seg = segment(sentences, emb, duration, cfg)
        starts = list(seg.starts)
        bounds = [*starts, n]
        chapter_of = np.zeros(n, dtype=int)
        for c, (a, z) in enumerate(itertools.pairwise(bounds)):
            chapter_of[a:z] = c
        n_ch = len(starts)
        cand_set = set(candidates)
        ch_cands: list[list[int]] = []
        for a, z in itertools.pairwise(bounds):
            cc = [i for i in range(a, z) if i in cand_set]
            ch_cands.append(cc or list(range(a, z)))
        ch_centroids = np.stack([_unit(emb[cc].mean(axis=0)) for cc in ch_cands])
        ch_texts = [" ".join(s.text for s in sentences[a:z]) for a, z in itertools.pairwise(bounds)]
        ch_phrases = tfidf_phrases(ch_texts)
        chapters: list[Chapter] = []
        for c, (a, z) in enumerate(itertools.pairwise(bounds)):
            central = max(ch_cands[c], key=lambda i: float(emb[i] @ ch_centroids[c]))
            title = make_title(ch_phrases[c], cfg.max_title_words) or _title_case(
                " ".join(words_of(sentences[central].text)[: cfg.max_title_words])
            )
            chapters.append(
                Chapter(
                    start=0.0 if c == 0 else round(sentences[a].start, 3),
                    end=duration if z == n else round(sentences[z].start, 3),
                    title=title,
                    summary=sentences[central].text,
                )
            )
        progress.update(STAGE, 3.0)

        # abstract: central and non-redundant over the whole talk
        doc_centroid = _unit(emb[candidates].mean(axis=0))
        relevance = emb @ doc_centroid
        k_abs = cfg.abstract_sentences or int(np.clip(n_ch, 2, 4))
        abstract_idx = sorted(_mmr(emb, relevance, candidates, k_abs, cfg.mmr_lambda))
        abstract = " ".join(sentences[i].text for i in abstract_idx)

        # key points: central in their chapter, spread over chapters, non-redundant. They add to
        # the abstract instead of repeating it: a chapter's abstract sentences are left out of
        # its pool unless nothing else is left there, and count as already chosen in the MMR
        # redundancy term.
        seen = set(abstract_idx) if cfg.key_points_avoid_abstract else set()
        kp_pools: list[list[int]] = []
        for cc in ch_cands:
            pool_c = [i for i in cc if i in cand_set]
            kp_pools.append([i for i in pool_c if i not in seen] or pool_c)
        n_pool = sum(len(p) for p in kp_pools)
        k_kp = min(int(np.clip(round(math.sqrt(len(candidates))), 3, 7)), n_pool)
        local_rel = np.array(
            [
                0.5 * float(emb[i] @ ch_centroids[chapter_of[i]]) + 0.5 * float(relevance[i])
                for i in range(n)
            ]
        )
        kp_idx: list[int] = []
        per_chapter = Counter[int]()
        while len(kp_idx) < k_kp:
            open_ch = [c for c in range(n_ch) if any(i not in kp_idx for i in kp_pools[c])]
            if not open_ch:
                break
            least = min(per_chapter[c] for c in open_ch)
            pool = [
                i
                for c in open_ch
                if per_chapter[c] == least
                for i in kp_pools[c]
                if i not in kp_idx
            ]
            already = [*kp_idx, *sorted(seen.difference(pool))]
            pick = _mmr(emb, local_rel, pool, 1, cfg.mmr_lambda, selected=already)
            if not pick:
                break
            kp_idx.extend(pick)
            per_chapter[int(chapter_of[pick[0]])] += 1
        kp_idx.sort()
        key_points = tuple(
            KeyPoint(
                text=sentences[i].text,
                start=round(sentences[i].start, 3),
                end=round(sentences[i].end, 3),
            )
            for i in kp_idx
        )
        progress.update(STAGE, 4.0)

        keywords = self._keywords(sentences, bounds, ch_centroids, ch_phrases, transcript.language)
        progress.update(STAGE, 5.0)
        progress.finish(STAGE)

        metadata: dict[str, Any] = {
            "encoder": "all-MiniLM-L6-v2",
            "sentences": n,
            "candidate_sentences": len(candidates),
            "words": sum(s.n_words for s in sentences),
            "chapters": n_ch,
            "key_points": len(key_points),
            "keywords": len(keywords),
            "window": seg.window,
            "max_chapters": seg.max_chapters,
            "depth_cutoff": None if math.isinf(seg.cutoff) else round(seg.cutoff, 4),
            "boundary_depths": list(seg.depths),
            "parameters": asdict(cfg),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        summary = Summary(
            abstract=abstract,
            key_points=key_points,
            chapters=tuple(chapters),
            keywords=tuple(keywords),
            method=METHOD,
            metadata=metadata,
        )
        return ExtractiveResult(
            summary, tuple(sentences), tuple(bounds), tuple(abstract_idx), tuple(kp_idx)
        )

    def _keywords(
        self,
        sentences: Sequence[Sentence],
        bounds: Sequence[int],
        ch_centroids: F64,
        ch_phrases: Sequence[Sequence[tuple[str, float]]],
        language: str = "en",
    ) -> list[str]:
        """Key phrases: per chapter, YAKE and TF-IDF candidates re-ranked by closeness to the
        chapter's centroid (KeyBERT-style) with MMR; taken round-robin over chapters."""
        import yake

        n_ch = len(bounds) - 1
        k = int(np.clip(3 * n_ch, 5, 10))
        extractor = yake.KeywordExtractor(
            lan=(language or "en")[:2].lower(), n=2, top=15, dedupLim=0.9
        )
        per_chapter: list[list[str]] = []
        for c in range(n_ch):
            text = " ".join(s.text for s in sentences[bounds[c] : bounds[c + 1]])
            cands: list[str] = []
            for phrase, _score in extractor.extract_keywords(text):
                toks = words_of(phrase)
                if toks and not any(_bad_token(t) for t in (toks[0], toks[-1])):
                    cands.append(" ".join(toks))
            cands.extend(p for p, _ in ch_phrases[c])
            per_chapter.append(list(dict.fromkeys(cands)))
        vocab = list(dict.fromkeys(p for cands in per_chapter for p in cands))
        if not vocab:
            return []
        pemb = self.encoder.encode(vocab).astype(np.float64)
        index = {p: i for i, p in enumerate(vocab)}
        ranked: list[list[str]] = []
        for c, cands in enumerate(per_chapter):
            rel = pemb @ ch_centroids[c]
            ids = [index[p] for p in cands]
            order = _mmr(pemb, rel, ids, len(ids), self.config.mmr_lambda)
            ranked.append([vocab[i] for i in order])
        chosen: list[str] = []
        pos = [0] * n_ch
        while len(chosen) < k and any(pos[c] < len(ranked[c]) for c in range(n_ch)):
            for c in range(n_ch):
                while pos[c] < len(ranked[c]):
                    phrase = ranked[c][pos[c]]
                    pos[c] += 1
                    if not any(_covers(phrase, q) or _covers(q, phrase) for q in chosen):
                        chosen.append(phrase)
                        break
                if len(chosen) >= k:
                    break
        casing = _casing(sentences)
        return [" ".join(casing.get(t, t) for t in p.split()) for p in chosen]


def _casing(sentences: Sequence[Sentence]) -> dict[str, str]:
    """Lower-case word -> its surface form when it is only ever written capitalised mid-sentence
    (a name: "Hawaii", "Karl"); words seen lower-case somewhere stay lower-case."""
    seen_lower: set[str] = set()
    capital: dict[str, str] = {}
    for s in sentences:
        for j, m in enumerate(_WORD_RE.finditer(s.text)):
            w = m.group(0)
            low = w.lower()
            if w == low:
                seen_lower.add(low)
            elif j > 0:
                capital.setdefault(low, w)
    return {low: w for low, w in capital.items() if low not in seen_lower}
