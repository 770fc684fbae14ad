"""HTTP route of stored summaries: abstract, key points, chapters, keywords."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from vidigest.api import ApiError, ErrorResponse, SessionDep
from vidigest.common.types import Chapter, KeyPoint
from vidigest.modules.summary.service import VideoSummaryService
from vidigest.modules.videos.service import VideoService

router = APIRouter(prefix="/videos", tags=["summary"])


class SummaryOut(BaseModel):
    video_id: str
    abstract: str
    key_points: list[KeyPoint]
    chapters: list[Chapter]
    keywords: list[str]
    method: str
    details: dict[str, Any]


@router.get(
    "/{video_id}/summary",
    response_model=SummaryOut,
    summary="Abstract, key points, chapters and keywords",
    responses={404: {"model": ErrorResponse}},
)
def get_summary(video_id: str, session: SessionDep) -> SummaryOut:
    video = VideoService(session).get(video_id)
    service = VideoSummaryService(session)
    if service.repository.find_one({"video_id": video_id}) is None:
        raise ApiError(404, "not_found", f"no summary yet for video {video_id} ({video.status})")
    summary = service.load(video_id)
    return SummaryOut(
        video_id=video_id,
        abstract=summary.abstract,
        key_points=list(summary.key_points),
        chapters=list(summary.chapters),
        keywords=list(summary.keywords),
        method=summary.method,
        details=summary.metadata,
    )
