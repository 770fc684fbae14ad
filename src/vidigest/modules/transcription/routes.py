"""HTTP route of stored transcripts: JSON (with words), SRT, WebVTT or plain text."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from vidigest.api import ApiError, ErrorResponse, SessionDep
from vidigest.modules.transcription.formats import Format, render, to_json
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.service import VideoService
from vidigest.security import content_disposition

router = APIRouter(prefix="/videos", tags=["transcription"])

MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
}

_CONTENT: dict[str, Any] = {t.split(";")[0]: {} for t in MEDIA_TYPES.values()}


@router.get(
    "/{video_id}/transcript",
    summary="The transcript, as JSON (segments and words), SRT, VTT or text",
    response_class=Response,
    responses={200: {"content": _CONTENT}, 404: {"model": ErrorResponse}},
)
def get_transcript(
    video_id: str,
    session: SessionDep,
    fmt: Annotated[Format, Query(alias="format")] = "json",
    download: Annotated[bool, Query(description="Answer as an attachment")] = False,
) -> Response:
    video = VideoService(session).get(video_id)
    service = TranscriptService(session)
    if service.find_record(video_id) is None:
        raise ApiError(404, "not_found", f"no transcript yet for video {video_id} ({video.status})")
    transcript = service.load(video_id)
    headers = {}
    if download:
        stem = video.filename.rsplit(".", 1)[0] or "transcript"
        headers["Content-Disposition"] = content_disposition(
            "attachment", f"{stem}.{fmt}", default_stem="transcript"
        )
    if fmt == "json":
        return JSONResponse(to_json(transcript), headers=headers)
    return Response(render(transcript, fmt), media_type=MEDIA_TYPES[fmt], headers=headers)
