"""HTTP route of stored summaries: abstract, key points, chapters, keywords."""

from __future__ import annotations

from fastapi import APIRouter

from vidigest.http.deps import SessionDep
from vidigest.http.errors import ApiError, ErrorCode, error_responses
from vidigest.modules.summary.schemas import SummaryOut
from vidigest.modules.summary.service import VideoSummaryService
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.service import VideoService

router = APIRouter(prefix="/videos", tags=["summary"])


@router.get(
    "/{video_id}/summary",
    response_model=SummaryOut,
    summary="Abstract, key points, chapters and keywords",
    responses=error_responses(404),
)
def get_summary(video_id: str, session: SessionDep) -> SummaryOut:
    video = VideoService(session).get(video_id)
    service = VideoSummaryService(session)
    if service.repository.find_one({"video_id": video_id}) is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no summary yet for video {video_id} ({video.status})")
    summary = service.load(video_id)
    made_from = service.stored_revision(video_id) or 0
    transcript = TranscriptService(session).find_record(video_id)
    revision = made_from if transcript is None else transcript.revision
    return SummaryOut(
        video_id=video_id,
        abstract=summary.abstract,
        key_points=list(summary.key_points),
        chapters=list(summary.chapters),
        keywords=list(summary.keywords),
        method=summary.method,
        details=summary.metadata,
        summary_revision=made_from,
        transcript_revision=revision,
        up_to_date=made_from >= revision,
    )
