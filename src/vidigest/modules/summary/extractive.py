"""Extractive summary of a transcript: chapters, abstract, key points and keywords.

Everything returned is quoted from the transcript: sentences are verbatim runs of its text (closed
with a full stop where the ASR left the end open) and
key phrases are runs of its words (titles are key phrases, title-cased).

- Sentences are rebuilt from the segments (`text.split_sentences`) and embedded with MiniLM.
- Chapters: the partition of the sentences that maximises chapter coherence with a per-chapter
  cost, by dynamic programming over sentence embeddings (`segmentation`).
- Chapter title: the chapter's own subject word(s), never a word its neighbours use as much
  (`titles`); summary: its sentence closest to the chapter's mean embedding.
- Abstract and key points: MMR over sentence embeddings (relevance = closeness to the document's,
  resp. the chapter's, centroid, plus the sentence's lexical centrality: the talk's recurring
  words it holds; penalty = closeness to sentences already chosen), in transcript order: ACLSum
  test R-1 35.9 -> 37.7 with the lexical term (chosen on the validation papers). Key points are
  spread over chapters and leave out the abstract's sentences (which count as already chosen):
  on 100 ACLSum papers half the key points repeated an abstract sentence before, none after,
  and abstract + key points cover more of the reference (R-1 recall 54.4 -> 62.7;
  bench/summary_eval.py).
- Quoted sentences are shown closed (`text.closed`): one whose end the ASR did not punctuate
  ends with a full stop, so the abstract does not read as one glued sentence.
- Keywords: YAKE candidates re-ranked KeyBERT-style (`keywords`).
"""

from __future__ import annotations

import itertools
import math
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
from vidigest.embedding.encoder import SentenceEncoder
from vidigest.modules.summary.config import ExtractiveConfig
from vidigest.modules.summary.keywords import keywords, name_casing
from vidigest.modules.summary.segmentation import Segmentation, segment
from vidigest.modules.summary.text import (
    Sentence,
    closed,
    is_content_sentence,
    lexical_centrality,
    split_sentences,
    words_of,
)
from vidigest.modules.summary.titles import chapter_titles, make_title, tfidf_phrases, title_case
from vidigest.modules.summary.vectors import F64, mmr, unit

__all__ = ["METHOD", "ExtractiveConfig", "ExtractiveResult", "ExtractiveSummarizer"]

METHOD = "extractive-minilm"
STAGE = "summarize"
_STEPS = 5


@dataclass(frozen=True)
class ExtractiveResult:
    """The summary and the structure it was built on (for the LLM path and the benchmark)."""

    summary: Summary
    sentences: tuple[Sentence, ...]
    bounds: tuple[int, ...]  # chapter c spans sentences[bounds[c] : bounds[c + 1]]
    abstract_idx: tuple[int, ...]
    key_point_idx: tuple[int, ...]


@dataclass
class _Chapters:
    """The chapters of one run and what later steps reuse: each chapter's candidate sentences,
    its unit centroid and its key phrases."""

    bounds: list[int]
    chapter_of: npt.NDArray[np.int_]
    candidates: list[list[int]]
    centroids: F64
    phrases: list[list[tuple[str, float]]]
    chapters: list[Chapter]


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
        t0 = time.perf_counter()
        sentences = split_sentences(transcript)
        if not sentences:
            raise EmptyTranscriptError("nothing was said: the transcript is empty")
        progress.start(STAGE, float(_STEPS))
        n = len(sentences)
        duration = max(float(transcript.duration), max(s.end for s in sentences))
        # quoted sentences are whole sentences with content; failing that, any with content;
        # failing that (all short or filler), still say something, from what was said
        content = [i for i, s in enumerate(sentences) if is_content_sentence(s.text)]
        candidates = [i for i in content if sentences[i].whole] or content or list(range(n))
        progress.update(STAGE, 1.0)

        emb = self.encoder.encode([s.text for s in sentences]).astype(np.float64)
        progress.update(STAGE, 2.0)

        seg = segment(sentences, emb, duration, self.config)
        ch = self._chapters(sentences, emb, seg, candidates, duration)
        progress.update(STAGE, 3.0)

        relevance = self._relevance(sentences, emb, candidates, transcript.language)
        abstract_idx = self._abstract(emb, relevance, candidates, len(ch.chapters))
        kp_idx = self._key_points(emb, relevance, candidates, ch, abstract_idx)
        key_points = tuple(
            KeyPoint(
                text=closed(sentences[i].text),
                start=round(sentences[i].start, 3),
                end=round(sentences[i].end, 3),
            )
            for i in kp_idx
        )
        progress.update(STAGE, 4.0)

        words = keywords(
            self.encoder,
            sentences,
            ch.bounds,
            ch.centroids,
            ch.phrases,
            transcript.language,
            self.config.mmr_lambda,
        )
        progress.update(STAGE, 5.0)
        progress.finish(STAGE)

        summary = Summary(
            abstract=" ".join(closed(sentences[i].text) for i in abstract_idx),
            key_points=key_points,
            chapters=tuple(ch.chapters),
            keywords=tuple(words),
            method=METHOD,
            metadata=self._metadata(sentences, candidates, seg, ch, key_points, words, t0),
        )
        return ExtractiveResult(
            summary, tuple(sentences), tuple(ch.bounds), tuple(abstract_idx), tuple(kp_idx)
        )

    def _chapters(
        self,
        sentences: Sequence[Sentence],
        emb: F64,
        seg: Segmentation,
        candidates: Sequence[int],
        duration: float,
    ) -> _Chapters:
        """Chapters over the segmentation's starts: a title from the chapter's key phrases (or
        its central sentence's first words) and its most central sentence as summary."""
        cfg = self.config
        n = len(sentences)
        bounds = [*seg.starts, n]
        chapter_of = np.zeros(n, dtype=int)
        for c, (a, z) in enumerate(itertools.pairwise(bounds)):
            chapter_of[a:z] = c
        cand_set = set(candidates)
        ch_cands: list[list[int]] = []
        for a, z in itertools.pairwise(bounds):
            cc = [i for i in range(a, z) if i in cand_set]
            ch_cands.append(cc or list(range(a, z)))
        ch_centroids = np.stack([unit(emb[cc].mean(axis=0)) for cc in ch_cands])
        ch_texts = [" ".join(s.text for s in sentences[a:z]) for a, z in itertools.pairwise(bounds)]
        ch_phrases = tfidf_phrases(ch_texts)
        if cfg.titles == "subject":
            subjects = chapter_titles(
                [[s.text for s in sentences[a:z]] for a, z in itertools.pairwise(bounds)],
                name_casing(sentences),
            )
        else:
            subjects = [make_title(p, cfg.max_title_words) for p in ch_phrases]
        chapters: list[Chapter] = []
        for c, (a, z) in enumerate(itertools.pairwise(bounds)):
            central = max(ch_cands[c], key=lambda i: float(emb[i] @ ch_centroids[c]))
            title = subjects[c] or title_case(
                " ".join(words_of(sentences[central].text)[: cfg.max_title_words])
            )
            chapters.append(
                Chapter(
                    start=0.0 if c == 0 else round(sentences[a].start, 3),
                    end=duration if z == n else round(sentences[z].start, 3),
                    title=title,
                    summary=closed(sentences[central].text),
                )
            )
        return _Chapters(bounds, chapter_of, ch_cands, ch_centroids, ch_phrases, chapters)

    def _relevance(
        self,
        sentences: Sequence[Sentence],
        emb: F64,
        candidates: Sequence[int],
        language: str | None,
    ) -> F64:
        """How central each sentence is: closeness to the talk's mean embedding, plus
        `lexical_weight` times its lexical centrality (the talk's recurring words it holds),
        standardised over the candidates and put on the scale of the embedding term so that the
        MMR redundancy penalty keeps its weight. Embeddings alone miss what makes a summary
        sentence: the talk's own terms, said again and again (ACLSum validation R-1 36.1 -> 37.6,
        bench/summary_eval.py --split val). English text only: the stopword list is English."""
        relevance: F64 = emb @ unit(emb[candidates].mean(axis=0))
        weight = self.config.lexical_weight
        if weight <= 0 or len(candidates) < 2 or not (language or "en").lower().startswith("en"):
            return relevance
        lex = np.asarray(lexical_centrality([s.text for s in sentences]), dtype=np.float64)
        spread = float(lex[candidates].std())
        if spread <= 0:
            return relevance
        z = (lex - float(lex[candidates].mean())) / spread
        return relevance + weight * float(relevance[candidates].std()) * z

    def _abstract(
        self, emb: F64, relevance: F64, candidates: Sequence[int], n_chapters: int
    ) -> list[int]:
        """Central and non-redundant over the whole talk, in transcript order."""
        cfg = self.config
        k = cfg.abstract_sentences or int(np.clip(n_chapters, 2, 4))
        return sorted(mmr(emb, relevance, candidates, k, cfg.mmr_lambda))

    def _key_points(
        self,
        emb: F64,
        relevance: F64,
        candidates: Sequence[int],
        ch: _Chapters,
        abstract_idx: Sequence[int],
    ) -> list[int]:
        """Central in their chapter, spread over chapters, non-redundant. They add to the
        abstract instead of repeating it: a chapter's abstract sentences are left out of its pool
        unless nothing else is left there, and count as already chosen in the MMR redundancy
        term."""
        cfg = self.config
        n = len(emb)
        n_ch = len(ch.chapters)
        cand_set = set(candidates)
        seen = set(abstract_idx) if cfg.key_points_avoid_abstract else set()
        kp_pools: list[list[int]] = []
        for cc in ch.candidates:
            pool_c = [i for i in cc if i in cand_set]
            kp_pools.append([i for i in pool_c if i not in seen] or pool_c)
        n_pool = sum(len(p) for p in kp_pools)
        k_kp = min(int(np.clip(round(math.sqrt(len(candidates))), 3, 7)), n_pool)
        local_rel = np.array(
            [
                0.5 * float(emb[i] @ ch.centroids[ch.chapter_of[i]]) + 0.5 * float(relevance[i])
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
            pick = mmr(emb, local_rel, pool, 1, cfg.mmr_lambda, selected=already)
            if not pick:
                break
            kp_idx.extend(pick)
            per_chapter[int(ch.chapter_of[pick[0]])] += 1
        return sorted(kp_idx)

    def _metadata(
        self,
        sentences: Sequence[Sentence],
        candidates: Sequence[int],
        seg: Segmentation,
        ch: _Chapters,
        key_points: Sequence[KeyPoint],
        words: Sequence[str],
        t0: float,
    ) -> dict[str, Any]:
        return {
            "encoder": "all-MiniLM-L6-v2",
            "sentences": len(sentences),
            "candidate_sentences": len(candidates),
            "words": sum(s.n_words for s in sentences),
            "chapters": len(ch.chapters),
            "key_points": len(key_points),
            "keywords": len(words),
            "window": seg.window,
            "max_chapters": seg.max_chapters,
            "depth_cutoff": None if math.isinf(seg.cutoff) else round(seg.cutoff, 4),
            "boundary_depths": list(seg.depths),
            "parameters": asdict(self.config),
            "seconds": round(time.perf_counter() - t0, 3),
        }
