"""Questions to the library: the best moments, and an answer quoted from them.

1. The moments: the best passages by hybrid search (`service.search_passages`).
2. The extractive answer (always computed; the answer offline): the sentences of those
   passages nearest in meaning to the question, quoted verbatim, each with its video and the
   second it is said at.
3. With an LLM configured (`VIDIGEST_LLM_*`): the model writes the answer from the numbered
   passages only, citing every sentence as [video, mm:ss]. Each citation is checked: the video
   must be one of the passages', the time inside such a passage, and the sentence must share
   words with what it cites. An answer with an uncited sentence, a citation that does not
   check, or no citation at all is replaced by the extractive one, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from vidigest.common.types import Segment, Transcript
from vidigest.modules.search.index import TextEncoder
from vidigest.modules.search.models import SearchPassage
from vidigest.modules.search.service import STOP_WORDS, PassageHit, search_passages
from vidigest.modules.search.vectors import SearchFilters
from vidigest.modules.summary.chat import ChatBackend, LLMFailure
from vidigest.modules.summary.text import Sentence, split_sentences
from vidigest.modules.transcription.models import TranscriptSegment

MOMENTS = 5  # passages retrieved for a question
QUOTES = 3  # sentences an extractive answer quotes, at most
MIN_QUOTE_SIMILARITY = 0.3  # below this a sentence does not answer (MiniLM cosine)
WORD_BONUS = 0.15  # added to a sentence's similarity for sharing all the question's words
STEM = 5
CITATION_SLACK = 2.0  # seconds a cited time may fall outside its passage
_CITATION = re.compile(r"\[([^\[\]]{1,300}?),\s*(\d{1,3}):([0-5]\d)\]")
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


@dataclass(frozen=True)
class Quote:
    video_id: str
    filename: str
    start: float
    end: float
    text: str
    similarity: float


@dataclass(frozen=True)
class Citation:
    video_id: str
    filename: str
    at: float  # seconds


@dataclass(frozen=True)
class Answer:
    question: str
    method: str  # "extractive" | "llm"
    text: str  # the answer; empty when nothing in the library answers
    quotes: list[Quote]  # the extractive answer's sentences (always)
    citations: list[Citation]  # the moments the answer cites, checked
    moments: list[PassageHit]
    fallback_reason: str | None = None  # why an LLM answer was not used
    details: dict[str, object] = field(default_factory=dict)


def clock(seconds: float) -> str:
    """mm:ss (minutes may pass 59), as citations write it."""
    whole = int(seconds)
    return f"{whole // 60:02d}:{whole % 60:02d}"


class LLMAnswer(BaseModel):
    answer: str = Field(
        max_length=600,  # a grammar-constrained server (llama.cpp) refuses very long strings
        description="The answer, every sentence ending with its citation [video, mm:ss]",
    )


SYSTEM_PROMPT = (
    "You answer questions about recorded talks using only the numbered passages given. "
    "Every sentence of your answer must end with a citation in square brackets: the video "
    "name and the time, exactly as written before the passage, e.g. [talk.mp4, 01:05]. "
    "If the passages do not answer the question, say so in one sentence citing the passage "
    'closest to it. Answer in at most three sentences. Reply as JSON: {"answer": "..."}.'
)


def ask(
    session: Session,
    question: str,
    *,
    encoder: TextEncoder,
    chat: ChatBackend | None = None,
    filters: SearchFilters | None = None,
    moments: int = MOMENTS,
) -> Answer:
    """The best moments for `question` and an answer from them (see the module's text)."""
    page = search_passages(
        session,
        question,
        encoder=encoder,
        mode="hybrid",
        filters=filters or SearchFilters(),
        limit=moments,
    )
    hits = page.hits
    quotes = extractive_quotes(session, question, hits, encoder)
    extractive = Answer(
        question=question,
        method="extractive",
        text=" ".join(
            f"\u201c{q.text.strip()}\u201d [{q.filename}, {clock(q.start)}]" for q in quotes
        ),
        quotes=quotes,
        citations=[Citation(q.video_id, q.filename, q.start) for q in quotes],
        moments=hits,
        details={"notice": page.notice} if page.notice else {},
    )
    if chat is None or not hits:
        return extractive
    try:
        written = chat.complete(SYSTEM_PROMPT, _user_prompt(question, hits), LLMAnswer, "ask")
        text = LLMAnswer.model_validate_json(_json_of(written.content)).answer.strip()
    except LLMFailure as exc:
        return _fallback(extractive, f"the LLM gave no answer: {exc.reason}")
    except ValueError as exc:
        return _fallback(extractive, f"the LLM's answer is not valid JSON: {str(exc)[:200]}")
    citations, problem = check_citations(text, hits)
    if problem is not None:
        return _fallback(extractive, problem)
    return replace(extractive, method="llm", text=text, citations=citations)


def _fallback(extractive: Answer, reason: str) -> Answer:
    return replace(extractive, fallback_reason=reason)


def _json_of(content: str) -> str:
    """The JSON object in a reply (models may wrap it in a code fence)."""
    start, end = content.find("{"), content.rfind("}")
    return content[start : end + 1] if 0 <= start < end else content


def _user_prompt(question: str, hits: Sequence[PassageHit]) -> str:
    lines = [f"Question: {question}", "", "Passages:"]
    for number, hit in enumerate(hits, start=1):
        lines.append(f"{number}. [{hit.filename}, {clock(hit.start)}] {hit.text.strip()}")
    return "\n".join(lines)


def _stems(text: str) -> set[str]:
    """Content words cut to their first STEM letters ("thickens", "thicken": "thick")."""
    return {w[:STEM] for w in _content_words(text)}


def _content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)} - STOP_WORDS


def check_citations(text: str, hits: Sequence[PassageHit]) -> tuple[list[Citation], str | None]:
    """The answer's citations if every sentence cites a retrieved passage that supports it;
    else the reason it does not."""
    if not text:
        return [], "the LLM's answer is empty"
    sentences = [s for s in re.split(r"(?<=[.!?\]])\s+(?=[A-Z\"\u201c])", text) if s.strip()]
    found: list[Citation] = []
    for sentence in sentences:
        marks = list(_CITATION.finditer(sentence))
        if not marks:
            return [], f"the LLM's answer has an uncited sentence: {sentence.strip()[:120]!r}"
        claim = _content_words(_CITATION.sub(" ", sentence))
        for mark in marks:
            name = mark.group(1).strip().strip("\"'")
            at = int(mark.group(2)) * 60 + int(mark.group(3))
            cited = [
                h
                for h in hits
                if name in (h.filename, h.video_id)
                and h.start - CITATION_SLACK <= at <= h.end + CITATION_SLACK
            ]
            if not cited:
                cite = f"[{name[:60]}, {mark.group(2)}:{mark.group(3)}]"
                return [], f"the LLM cited {cite}, which is no retrieved passage"
            if claim and not any(claim & _content_words(h.text) for h in cited):
                unfounded = sentence.strip()[:120]
                return [], f"the LLM's sentence is not founded on what it cites: {unfounded!r}"
            found.append(Citation(cited[0].video_id, cited[0].filename, float(at)))
    return found, None


def extractive_quotes(
    session: Session, question: str, hits: Sequence[PassageHit], encoder: TextEncoder
) -> list[Quote]:
    """The sentences of `hits` that answer `question` best, verbatim, with their times."""
    candidates: list[tuple[PassageHit, str, float, float]] = []
    seen: set[tuple[str, float]] = set()
    for hit in hits:
        for sentence in _sentences_of(session, hit):
            key = (hit.video_id, round(sentence.start, 2))
            if key in seen or len(sentence.text.split()) < 4:
                continue
            seen.add(key)
            candidates.append((hit, sentence.text.strip(), sentence.start, sentence.end))
    if not candidates:
        return []
    vectors = encoder.encode([question, *(c[1] for c in candidates)])
    scores = vectors[1:] @ vectors[0]
    # the question's own words (crudely stemmed) said in the sentence: a small bonus
    asked = _stems(question)
    if asked:
        overlap = [len(asked & _stems(c[1])) / len(asked) for c in candidates]
        scores = scores + WORD_BONUS * np.asarray(overlap, dtype=np.float32)
    order = np.argsort(-scores, kind="stable")
    quotes = [
        Quote(
            video_id=candidates[i][0].video_id,
            filename=candidates[i][0].filename,
            start=candidates[i][2],
            end=candidates[i][3],
            text=candidates[i][1],
            similarity=float(scores[i]),
        )
        for i in order[:QUOTES]
        if scores[i] >= MIN_QUOTE_SIMILARITY
    ]
    return quotes


def _sentences_of(session: Session, hit: PassageHit) -> list[Sentence]:
    """The sentences of a passage, from its segments (with their times)."""
    transcript_id = session.scalar(
        select(SearchPassage.transcript_id).where(SearchPassage.id == hit.passage_id)
    )
    rows = session.execute(
        select(
            TranscriptSegment.position,
            TranscriptSegment.start_time,
            TranscriptSegment.end_time,
            TranscriptSegment.text,
        )
        .where(TranscriptSegment.transcript_id == transcript_id)
        .where(TranscriptSegment.position.between(hit.first_segment, hit.last_segment))
        .order_by(TranscriptSegment.position)
    ).all()
    segments = tuple(
        Segment(index=r.position, start=r.start_time, end=r.end_time, text=r.text) for r in rows
    )
    if not segments:
        return []
    transcript = Transcript(
        language=hit.language, duration=segments[-1].end, model="", segments=segments
    )
    return list(split_sentences(transcript))
