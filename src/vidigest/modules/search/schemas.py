"""Request and response bodies of search and ask (Pydantic)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SearchResult(BaseModel):
    """One passage: a few neighbouring segments of a transcript."""

    video_id: str
    filename: str
    segment_index: int  # the passage's first segment
    last_segment_index: int  # its last segment
    start: float  # seconds: where the passage begins (the link opens the player there)
    end: float
    text: str
    language: str
    score: float  # higher is better: fused rank score (hybrid), cosine (semantic), full-text
    keyword_rank: int | None = None  # its rank by words, by meaning (None: not in that list)
    semantic_rank: int | None = None
    link: str  # the web player at that second: /#/videos/{id}?t=SECONDS
    speaker: str | None = None  # label of the first segment's speaker; null: not diarized
    speaker_name: str | None = None  # that speaker's name, else "Speaker N"


class SearchResults(BaseModel):
    query: str
    mode: str  # hybrid | semantic | keyword
    notice: str | None = None  # e.g. why semantic search did not run on this database
    limit: int
    offset: int
    results: list[SearchResult]


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=1000)
    video_ids: list[str] = Field(default_factory=list, max_length=100)  # empty: every video


class QuoteOut(BaseModel):
    video_id: str
    filename: str
    start: float
    end: float
    text: str
    link: str


class CitationOut(BaseModel):
    video_id: str
    filename: str
    at: float  # seconds
    link: str


class AnswerOut(BaseModel):
    question: str
    method: str  # "extractive" (quoted sentences) or "llm" (written, citations checked)
    answer: str  # empty: nothing in the library answers it
    quotes: list[QuoteOut]  # the sentences that answer it, quoted (the extractive answer)
    citations: list[CitationOut]  # the moments the answer cites
    moments: list[SearchResult]  # the passages retrieved for it, best first
    fallback_reason: str | None = None  # why a written (LLM) answer was not used
    notice: str | None = None
