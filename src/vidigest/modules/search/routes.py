"""HTTP route of full-text search over transcript segments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from vidigest.http.deps import SessionDep
from vidigest.modules.search.schemas import SearchResult, SearchResults
from vidigest.modules.search.service import search_segments

router = APIRouter(tags=["search"])


@router.get("/search", response_model=SearchResults, summary="Search every transcript")
def search(
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Words to find")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> SearchResults:
    hits = search_segments(session, q, limit=limit, offset=offset)
    return SearchResults(
        query=q,
        results=[
            SearchResult(
                video_id=h.video_id,
                filename=h.filename,
                segment_index=h.segment_index,
                start=h.start,
                end=h.end,
                text=h.text,
                speaker=h.speaker,
                speaker_name=h.speaker_name,
            )
            for h in hits
        ],
    )
