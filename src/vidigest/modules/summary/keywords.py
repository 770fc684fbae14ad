"""Keywords: YAKE candidates from each chapter, re-ranked by closeness to the chapter centroid
(KeyBERT-style, same encoder) with MMR, taken round-robin over chapters, deduplicated."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidigest.embedding.encoder import SentenceEncoder
from vidigest.modules.summary.text import Sentence, words_of
from vidigest.modules.summary.titles import WORD_RE, bad_token, covers
from vidigest.modules.summary.vectors import F64, mmr


def keywords(
    encoder: SentenceEncoder,
    sentences: Sequence[Sentence],
    bounds: Sequence[int],
    ch_centroids: F64,
    ch_phrases: Sequence[Sequence[tuple[str, float]]],
    language: str = "en",
    mmr_lambda: float = 0.7,
) -> list[str]:
    """Key phrases: per chapter, YAKE and TF-IDF candidates re-ranked by closeness to the
    chapter's centroid (KeyBERT-style) with MMR; taken round-robin over chapters."""
    import yake

    n_ch = len(bounds) - 1
    k = int(np.clip(3 * n_ch, 5, 10))
    extractor = yake.KeywordExtractor(lan=(language or "en")[:2].lower(), n=2, top=15, dedupLim=0.9)
    per_chapter: list[list[str]] = []
    for c in range(n_ch):
        text = " ".join(s.text for s in sentences[bounds[c] : bounds[c + 1]])
        cands: list[str] = []
        for phrase, _score in extractor.extract_keywords(text):
            toks = words_of(phrase)
            if toks and not any(bad_token(t) for t in (toks[0], toks[-1])):
                cands.append(" ".join(toks))
        cands.extend(p for p, _ in ch_phrases[c])
        per_chapter.append(list(dict.fromkeys(cands)))
    vocab = list(dict.fromkeys(p for cands in per_chapter for p in cands))
    if not vocab:
        return []
    pemb = encoder.encode(vocab).astype(np.float64)
    index = {p: i for i, p in enumerate(vocab)}
    ranked: list[list[str]] = []
    for c, cands in enumerate(per_chapter):
        rel = pemb @ ch_centroids[c]
        ids = [index[p] for p in cands]
        order = mmr(pemb, rel, ids, len(ids), mmr_lambda)
        ranked.append([vocab[i] for i in order])
    chosen: list[str] = []
    pos = [0] * n_ch
    while len(chosen) < k and any(pos[c] < len(ranked[c]) for c in range(n_ch)):
        for c in range(n_ch):
            while pos[c] < len(ranked[c]):
                phrase = ranked[c][pos[c]]
                pos[c] += 1
                if not any(covers(phrase, q) or covers(q, phrase) for q in chosen):
                    chosen.append(phrase)
                    break
            if len(chosen) >= k:
                break
    casing = name_casing(sentences)
    return [" ".join(casing.get(t, t) for t in p.split()) for p in chosen]


def name_casing(sentences: Sequence[Sentence]) -> dict[str, str]:
    """Lower-case word -> its surface form when it is only ever written capitalised mid-sentence
    (a name: "Hawaii", "Karl"); words seen lower-case somewhere stay lower-case."""
    seen_lower: set[str] = set()
    capital: dict[str, str] = {}
    for s in sentences:
        for j, m in enumerate(WORD_RE.finditer(s.text)):
            w = m.group(0)
            low = w.lower()
            if w == low:
                seen_lower.add(low)
            elif j > 0:
                capital.setdefault(low, w)
    return {low: w for low, w in capital.items() if low not in seen_lower}
