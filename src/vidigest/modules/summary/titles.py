"""Chapter titles from each chapter's own words: the thing the chapter is about, as a short noun
phrase ("Glaciers", "Wind turbines", "Roman roads").

A chapter about glaciers says "glacier" again and again and its neighbours hardly do. So each
content word of a chapter is scored by

    count in the chapter * (share of its uses that fall in this chapter) ** 2
    * (2 if it occurs in the chapter's first two sentences, where talks name their subject)

and a word used at least as often in another chapter is never a title (the old titles took
words from the neighbouring chapter when the boundary was off). The best word is shown with the
word it most often stands beside when that pair recurs ("solar" + "panel", "carbon" + "dioxide"),
in its most frequent surface form; a second subject that scores at least 0.7 of the first joins
it with "and" ("Flour and yeast"). Sentence case, names keeping their capitals. (Counting only
words seen after a determiner, as nouns, made titles worse on the dev talks: ASR drops articles.)

On the spoken benchmark's dev talks, given the true chapters, title ROUGE-1 against the
narrations' headings was 25.1 with the previous titles (two TF-IDF phrases joined by a comma,
e.g. "Count, Players" for a chapter on basketball) and 28.3 with these; the held-out figures are
in docs/benchmarks.md. A reference heading ("How glaciers carve valleys") has verbs a quoted
noun phrase cannot have, which caps ROUGE here; an LLM summarizer writes such titles.

Key phrases (for keywords, and the previous titles, `titles="tfidf"`): TF-IDF 1-2-grams of a
chapter against the other chapters (no stopword, filler or number at either end; plural and
singular counted as one).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

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


# --- subject titles ---------------------------------------------------------------------------

_SPLIT_CHARS = '.,;:!?()[]"\u2014\u2013'
FIRST_SENTENCES = 2
FIRST_BONUS = 1.0
SPECIFICITY_POWER = 2.0
PAIR_SHARE = 0.25  # a pair is shown when it makes up this share of the word's uses (and >= 2)
SECOND_SHARE = 0.7  # a second subject joins with "and" when it scores this share of the first


def _content(tok: str) -> bool:
    return (
        tok not in STOPWORDS
        and tok not in FILLERS
        and len(tok) >= 3
        and not any(c.isdigit() for c in tok)
        and not tok.endswith("ly")
    )


def _clauses(text: str) -> list[list[str]]:
    for ch in _SPLIT_CHARS:
        text = text.replace(ch, "|")
    return [words_of(piece) for piece in text.split("|") if piece.strip()]


class _Chapter:
    """Word statistics of one chapter."""

    def __init__(self, sentences: Sequence[str]) -> None:
        self.count: Counter[str] = Counter()
        self.early: set[str] = set()
        self.surface: dict[str, Counter[str]] = {}
        self.pairs: Counter[tuple[str, str]] = Counter()
        self.pair_surface: dict[tuple[str, str], Counter[str]] = {}
        for si, sentence in enumerate(sentences):
            for clause in _clauses(sentence):
                for i, tok in enumerate(clause):
                    if not _content(tok):
                        continue
                    st = stem(tok)
                    self.count[st] += 1
                    self.surface.setdefault(st, Counter())[tok] += 1
                    if si < FIRST_SENTENCES:
                        self.early.add(st)
                    if i + 1 < len(clause) and _content(clause[i + 1]):
                        key = (st, stem(clause[i + 1]))
                        self.pairs[key] += 1
                        self.pair_surface.setdefault(key, Counter())[f"{tok} {clause[i + 1]}"] += 1


def chapter_titles(
    chapters: Sequence[Sequence[str]], casing: dict[str, str] | None = None
) -> list[str]:
    """A title for each chapter (a list of its sentences); "" when a chapter has no content word
    of its own (the caller falls back to something else)."""
    stats = [_Chapter(ch) for ch in chapters]
    total: Counter[str] = Counter()
    for s in stats:
        total.update(s.count)
    casing = casing or {}
    titles: list[str] = []
    for ci, s in enumerate(stats):

        def own(word: str, ci: int = ci, s: _Chapter = s) -> bool:
            return all(o.count[word] < s.count[word] for j, o in enumerate(stats) if j != ci)

        scores: dict[str, float] = {}
        for word, n in s.count.items():
            if not own(word):
                continue
            score = n * (n / total[word]) ** SPECIFICITY_POWER
            score *= 1.0 + (FIRST_BONUS if word in s.early else 0.0)
            scores[word] = score
        if not scores:
            titles.append("")
            continue
        ranked = sorted(sorted(scores), key=lambda w: -scores[w])
        phrase, used = _render(s, ranked[0], own)
        for word in ranked[1:]:
            if word in used:
                continue
            if scores[word] >= SECOND_SHARE * scores[ranked[0]]:
                second, _ = _render(s, word, own)
                if not set(second.split()) & set(phrase.split()):
                    phrase = f"{phrase} and {second}"
            break
        titles.append(sentence_case(phrase, casing))
    return titles


def _render(s: _Chapter, word: str, own: Callable[[str], bool]) -> tuple[str, set[str]]:
    """The word in its most frequent form, or with the word it most often stands beside when
    that pair recurs ("solar panel"); and the stems used."""
    pairs = [
        (n, key)
        for key, n in s.pairs.items()
        if word in key and n >= 2 and n >= PAIR_SHARE * s.count[word] and all(own(w) for w in key)
    ]
    if pairs:
        _, key = max(pairs)
        return s.pair_surface[key].most_common(1)[0][0], set(key)
    return s.surface[word].most_common(1)[0][0], {word}


def sentence_case(phrase: str, casing: dict[str, str]) -> str:
    """First letter up; names ("roman" -> "Roman" when only ever written capitalised) kept."""
    words = [casing.get(w, w) for w in phrase.split()]
    if not words:
        return ""
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words)
