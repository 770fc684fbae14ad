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


class SearchResults(BaseModel):
    query: str
    results: list[SearchResult]
