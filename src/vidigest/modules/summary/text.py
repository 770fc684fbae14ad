"""Sentences with times, rebuilt from transcript segments; word tokens; boilerplate filter.

ASR segments do not follow sentences: one sentence may span two segments and one segment may hold
several sentences. Here the transcript becomes one stream of timed tokens (whitespace-separated
pieces of the segments' own text, so every sentence is a verbatim quote), and sentences are cut on
sentence punctuation. A token's time comes from the segment's word timestamps when it has them,
else from the segment's span, shared out in proportion to characters.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vidigest.common.types import Segment, Transcript

# A sentence that never ends (ASR without punctuation) is cut at a segment end once this long...
# (30 cut one ACLSum sentence in five: long written and spoken sentences are real sentences)
SOFT_MAX_WORDS = 45
# ...and anywhere once this long.
HARD_MAX_WORDS = 80
# Fewer sentence ends than one per this many words: the ASR gave no punctuation (lower-case
# engines); every segment end then ends a sentence.
UNPUNCTUATED_WORDS_PER_END = 60

_CLOSERS = "\"')]}\u201d\u2019\u00bb"
_TERMINALS = (".", "!", "?", "\u2026", "\u3002", "\uff01", "\uff1f")
_ABBREVIATION_TEXT = (
    "mr. mrs. ms. dr. prof. sr. jr. st. vs. e.g. i.e. etc. approx. fig. no. cf. al. inc. ltd. "
    "co. corp. mt. ft. jan. feb. mar. apr. jun. jul. aug. sep. sept. oct. nov. dec."
)
_ABBREVIATIONS = frozenset(_ABBREVIATION_TEXT.split())
# Abbreviations that often do end a sentence: cut after them when the next word is capitalised.
_END_OK_ABBREVIATIONS = frozenset({"etc.", "no.", "inc.", "ltd.", "co.", "corp."})
_INITIALS = re.compile(r"^(?:[A-Za-z]\.){2,}$|^[A-Z]\.$")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")

_STOPWORD_TEXT = """
    a about above after again against all almost also although always am among an and another any
    anybody anyone anything anyway are aren't around as at back be became because become becomes
    been before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't done down during each either else enough even ever every everybody
    everyone everything few first for from further get gets getting give given go goes going gone
    got gotten had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers
    herself him himself his how how's however i i'd i'll i'm i've if in into is isn't it it's its
    itself just kind know last least less let let's like likely lot lots made make makes many may
    maybe me might mine more most much must mustn't my myself need needs never new next no nobody
    none nor not nothing now of off often oh ok okay on once one ones only onto or other others
    otherwise ought our ours ourselves out over own per perhaps quite rather really right said same
    say says see seem seems several shall shan't she she'd she'll she's should shouldn't since so
    some somebody someone something sometimes somewhat soon still such sure take than that that's
    the their theirs them themselves then there there's therefore these they they'd they'll they're
    they've thing things think this those though through thus to today together too toward towards
    two under until up upon us use used uses using usually very via want wants was wasn't way ways
    we we'd we'll we're we've well went were weren't what what's whatever when when's where where's
    whether which while who who's whom whose why why's will with within without won't would
    wouldn't yeah yes yet you you'd you'll you're you've your yours yourself yourselves
    zero three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
    seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
    thousand million billion hundreds thousands millions billions dozen dozens twenties thirties
    forties fifties sixties seventies eighties nineties second third half
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_FILLER_TEXT = (
    "um umm uh uhh uh-huh hmm mm mhm er erm ah ahh eh huh okay ok yeah yep alright right so well "
    "like you know i mean actually basically literally anyway oh wow"
)
FILLERS = frozenset(_FILLER_TEXT.split())
_BOILERPLATE = re.compile(
    r"thanks? (?:you )?(?:so much |very much )?for (?:watching|listening|your attention)"
    r"|(?:like|hit|smash)(?: the like button)? and subscribe|subscribe to (?:my|our|the) channel"
    r"|^\W*[\[(][^\])]*[\])]\W*$",  # "[Music]", "(applause)"
    re.IGNORECASE,
)


def words_of(text: str) -> list[str]:
    """Lower-case word tokens (letters/digits, inner apostrophes kept)."""
    return [m.group(0).lower().replace("\u2019", "'") for m in _WORD.finditer(text)]


@dataclass(frozen=True)
class TimedToken:
    text: str  # one whitespace-free piece of a segment's text, verbatim
    start: float
    end: float
    segment_end: bool  # last token of its segment


@dataclass(frozen=True)
class Sentence:
    index: int
    text: str
    start: float
    end: float
    # begins where a sentence begins and ends where one ends (not a piece of a run-on cut at a
    # length limit): only whole sentences are quoted in abstracts, key points and summaries
    whole: bool = True

    @property
    def n_words(self) -> int:
        return len(words_of(self.text))


def _segment_tokens(segment: Segment) -> list[TimedToken]:
    pieces = segment.text.split()
    if not pieces:
        return []
    text = " ".join(pieces)
    offsets: list[int] = []
    pos = 0
    for p in pieces:
        offsets.append(pos)
        pos += len(p) + 1
    start, end = float(segment.start), max(float(segment.end), float(segment.start))

    words = [w for w in segment.words if w.text.strip()]
    out: list[TimedToken] = []
    if words:
        joined_parts = [w.text.strip() for w in words]
        w_offsets: list[int] = []
        wpos = 0
        for jp in joined_parts:
            w_offsets.append(wpos)
            wpos += len(jp) + 1
        joined_len = max(wpos - 1, 1)
        scale = joined_len / max(len(text), 1)  # 1.0 when the words spell the segment's text

        def word_at(char: int) -> int:
            return max(0, bisect.bisect_right(w_offsets, int(char * scale)) - 1)

        for p, off in zip(pieces, offsets, strict=True):
            first = words[word_at(off)]
            last = words[word_at(off + len(p) - 1)]
            out.append(
                TimedToken(p, float(first.start), max(float(last.end), float(first.start)), False)
            )
    else:
        span = end - start
        total = max(len(text), 1)
        for p, off in zip(pieces, offsets, strict=True):
            out.append(
                TimedToken(
                    p, start + span * off / total, start + span * (off + len(p)) / total, False
                )
            )
    last_tok = out[-1]
    out[-1] = TimedToken(last_tok.text, last_tok.start, last_tok.end, True)
    return out


def timed_tokens(segments: Iterable[Segment]) -> list[TimedToken]:
    tokens: list[TimedToken] = []
    for seg in sorted(segments, key=lambda s: (s.start, s.index)):
        tokens.extend(_segment_tokens(seg))
    return tokens


def _ends_sentence(token: str, next_token: str | None) -> bool:
    core = token.rstrip(_CLOSERS)
    if not core.endswith(_TERMINALS):
        return False
    if next_token is None:
        return True
    nxt = next_token.lstrip("\"'([{\u201c\u2018\u00ab")
    if nxt[:1].islower():  # "e.g. the", "U.S. economy", "and then... we went"
        return False
    low = core.lower()
    # an abbreviation as it is written ("Mt.", "etc."), not an acronym ("MT.", "MRs."): "...
    # machine translation (MT). In this paper" ends there
    as_written = not any(ch.isupper() for ch in core[1:])
    if low in _ABBREVIATIONS and low not in _END_OK_ABBREVIATIONS and as_written:
        return False
    return not (_INITIALS.match(core) and nxt[:1].isupper() and len(core) <= 2)  # "J. Smith"


def _missed_end(
    token: str, next_token: str | None, lower_words: frozenset[str] = frozenset()
) -> bool:
    """A sentence end the ASR did not punctuate: "...bursts out The most dangerous hazard...".

    The next word is capitalised although it is a word that is only capitalised at a sentence
    start ("The", "When", "It"; never "I" or a name), and this word can end a sentence (not
    "of", "the", "and": "by The Beatles" stays one sentence). After a comma, also a capitalised
    word that the transcript writes in lower case elsewhere, so not a name ("...faster than a
    car, Volcanic ash falls..." when "volcanic" occurs too): a comma where a full stop was
    meant, which Whisper writes often."""
    if next_token is None or next_token.startswith(("(", "[")):  # "step (He et al., 2013)."
        return False
    core = token.rstrip(_CLOSERS + ",")
    if not core or core.endswith(_TERMINALS) or not core[-1].isalnum():
        return False
    if _LIST_LABEL.match(token):  # "as follows: (a) We propose..."
        return False
    nxt = next_token.lstrip("\"'\u201c\u2018\u00ab")
    word = _WORD.match(nxt)
    if word is None or not nxt[:1].isupper() or word.group(0) != nxt.rstrip(".,;:!?\"')"):
        return False
    low = word.group(0).lower()
    if core.lstrip("\"'([{").lower() in _CANNOT_END:
        return False
    if low in _SENTENCE_STARTERS:
        return True
    after_comma = token.rstrip(_CLOSERS).endswith(",")
    return after_comma and low != "i" and low in lower_words and word.group(0)[1:].islower()


# A list label that introduces what follows: "(a)", "(1)", "(iv)", "2)".
_LIST_LABEL = re.compile(r"^\(?(?:[a-z]|\d{1,2}|[ivx]{1,4})\)[:,]?$", re.IGNORECASE)


# Capitalised mid-sentence only at a sentence start. Not "a", "one", "who": "vitamin A",
# "Formula One", "Doctor Who".
_SENTENCE_STARTERS = frozenset(
    [
        "the",
        "an",
        "this",
        "these",
        "that",
        "those",
        "it",
        "its",
        "there",
        "they",
        "their",
        "we",
        "our",
        "he",
        "his",
        "she",
        "her",
        "you",
        "your",
        "when",
        "while",
        "after",
        "before",
        "during",
        "in",
        "on",
        "at",
        "as",
        "if",
        "but",
        "so",
        "then",
        "today",
        "now",
        "each",
        "every",
        "most",
        "some",
        "many",
        "such",
        "although",
        "though",
        "because",
        "since",
        "what",
        "how",
        "why",
        "where",
        "which",
    ]
)
_CANNOT_END = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "by",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "and",
        "or",
        "but",
        "nor",
        "than",
        "that",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "will",
        "would",
        "can",
        "could",
        "should",
        "may",
        "might",
        "must",
        "very",
        "my",
        "your",
        "his",
        "her",
        "its",
        "our",
        "their",
        "this",
        "these",
        "those",
    ]
)


def split_sentences(transcript: Transcript) -> list[Sentence]:
    """The transcript's sentences in order, each a verbatim run of its text, with times.

    A sentence ends at sentence punctuation or at a missed end (`_missed_end`). Text without
    punctuation (fewer than one sentence end per UNPUNCTUATED_WORDS_PER_END words) is cut at
    every segment end; a run-on longer than SOFT_MAX_WORDS is cut at a segment end, and at
    HARD_MAX_WORDS anywhere: the pieces of such a cut are not `whole`.
    """
    tokens = timed_tokens(transcript.segments)
    # words the transcript writes in lower case somewhere (not names): see _missed_end
    lower_words = frozenset(
        m.group(0) for t in tokens for m in _WORD.finditer(t.text) if m.group(0)[:1].islower()
    )
    ends = sum(1 for t in tokens if t.text.rstrip(_CLOSERS).endswith(_TERMINALS))
    unpunctuated = ends * UNPUNCTUATED_WORDS_PER_END < len(tokens)
    soft_max = 1 if unpunctuated else SOFT_MAX_WORDS
    sentences: list[Sentence] = []
    current: list[TimedToken] = []
    clean_start = True

    def flush(clean_end: bool) -> None:
        nonlocal clean_start
        if current and any(_WORD.search(t.text) for t in current):
            sentences.append(
                Sentence(
                    index=len(sentences),
                    text=" ".join(t.text for t in current),
                    start=current[0].start,
                    end=max(t.end for t in current),
                    whole=clean_start and clean_end,
                )
            )
        current.clear()
        clean_start = clean_end

    for i, tok in enumerate(tokens):
        current.append(tok)
        nxt = tokens[i + 1].text if i + 1 < len(tokens) else None
        n = len(current)
        if _ends_sentence(tok.text, nxt) or _missed_end(tok.text, nxt, lower_words):
            flush(True)
        elif tok.segment_end and n >= soft_max:
            flush(unpunctuated)
        elif n >= HARD_MAX_WORDS:
            flush(False)
    flush(True)
    return sentences


def is_content_sentence(text: str, min_words: int = 5, min_content_words: int = 3) -> bool:
    """False for boilerplate: very short sentences, filler, sign-offs, "[Music]"-style tags."""
    if _BOILERPLATE.search(text):
        return False
    words = words_of(text)
    if len(words) < min_words:
        return False
    content = [w for w in words if w not in STOPWORDS and w not in FILLERS and not w.isdigit()]
    return len(content) >= min_content_words


def closed(text: str) -> str:
    """A quoted sentence as shown: with its own end punctuation, or closed with a full stop
    where the ASR left its end unpunctuated or wrote a comma ("...and some hope" + "The moon
    does not shine..." would read as one glued sentence). The words stay verbatim."""
    body = text.rstrip()
    if body.rstrip(_CLOSERS).endswith(_TERMINALS):
        return body
    trimmed = body.rstrip(",;:-\u2013\u2014 ")
    return trimmed + "." if trimmed else body


def _content_terms(text: str) -> list[str]:
    """Content words with a plural -s taken off ("models" and "model" count as one term)."""
    out = []
    for w in words_of(text):
        if len(w) < 2 or w in STOPWORDS or w in FILLERS or w.isdigit():
            continue
        out.append(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return out


def lexical_centrality(texts: Sequence[str]) -> list[float]:
    """How much of the document's recurring vocabulary each sentence holds: the sum over its
    distinct content words of log(count of the word in the whole document), divided by the
    square root of its length in content words (so a long sentence is not central for its length
    alone). Words said once add nothing; a sentence with none of the talk's recurring words
    scores 0. English stopwords: meaningful for English text only."""
    terms = [_content_terms(t) for t in texts]
    counts = Counter(w for ts in terms for w in ts)
    return [
        sum(math.log(counts[w]) for w in set(ts)) / math.sqrt(len(ts)) if ts else 0.0
        for ts in terms
    ]
