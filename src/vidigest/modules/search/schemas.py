"""Response bodies of the search route (Pydantic)."""

from __future__ import annotations

from pydantic import BaseModel


class SearchResult(BaseModel):
    video_id: str
    filename: str
    segment_index: int
    start: float
    end: float
    text: str
    speaker: str | None = None  # label of the segment's speaker; null: not diarized
    speaker_name: str | None = None  # the speaker's name, else "Speaker N"


class SearchResults(BaseModel):
    query: str
    results: list[SearchResult]
