"""Key phrases and chapter titles: TF-IDF 1-2-grams of a chapter against the other chapters.

A title is the chapter's top key phrases (no stopword, filler or number at either end; plural and
singular counted as one), title-cased: words quoted from the transcript, never invented.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from vidigest.modules.summary.text import FILLERS, STOPWORDS, words_of


def phrases(text: str, max_n: int = 2) -> list[str]:
    """1..max_n-grams of words within clauses; no stopword, filler or number at either end."""
    out: list[str] = []
    for piece in split_clauses(text):
        toks = words_of(piece)
        for n in range(1, max_n + 1):
            for i in range(len(toks) - n + 1):
                gram = toks[i : i + n]
                if any(bad_token(t) for t in (gram[0], gram[-1])):
                    continue
                if n > 1 and any(t in STOPWORDS for t in gram):
                    continue
                out.append(" ".join(gram))
    return out


WORD_RE = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")


def split_clauses(text: str) -> list[str]:
    return [p for p in re.split(r"[.,;:!?()\[\]\"\u2014\u2013]+|\s-\s", text) if p.strip()]


def bad_token(tok: str) -> bool:
    return tok in STOPWORDS or tok in FILLERS or len(tok) < 2 or any(c.isdigit() for c in tok)


def tfidf_phrases(docs: Sequence[str], top: int = 8) -> list[list[tuple[str, float]]]:
    """Per document, its top 1-2-gram phrases by TF-IDF against the other documents.

    Plural and singular count as one phrase, shown in its most frequent form.
    """
    counts: list[Counter[str]] = []
    surface: dict[str, Counter[str]] = {}
    for d in docs:
        c: Counter[str] = Counter()
        for phrase in phrases(d):
            key = " ".join(stem(t) for t in phrase.split())
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


def title_case(phrase: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in phrase.split())


def make_title(phrases: Sequence[tuple[str, float]], max_words: int) -> str:
    picked: list[str] = []
    used: set[str] = set()
    n_words = 0
    for phrase, _ in phrases:
        toks = phrase.split()
        stems = {stem(t) for t in toks}
        if stems & used:
            continue
        if n_words + len(toks) > max_words:
            continue
        picked.append(phrase)
        used |= stems
        n_words += len(toks)
        if len(picked) == 2:
            break
    return ", ".join(title_case(p) for p in picked)


def stem(tok: str) -> str:
    """Singular of a plural, roughly: enough to count "bicycle" and "bicycles" as one word."""
    if len(tok) > 4 and tok.endswith("ies"):
        return tok[:-3] + "y"
    if len(tok) > 4 and tok.endswith(("sses", "xes", "ches", "shes", "zes", "oes")):
        return tok[:-2]
    if len(tok) > 3 and tok.endswith("s") and not tok.endswith(("ss", "us", "is")):
        return tok[:-1]
    return tok


def covers(a: str, b: str) -> bool:
    """True when phrase `b` repeats phrase `a` (same words, plural-insensitive, or contains it)."""
    sa = [stem(t) for t in a.split()]
    sb = [stem(t) for t in b.split()]
    k = len(sa)
    return any(sb[i : i + k] == sa for i in range(len(sb) - k + 1)) or a in b
