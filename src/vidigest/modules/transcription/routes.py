"""HTTP routes of stored transcripts: JSON (with words), SRT, WebVTT, plain text, DOCX or PDF;
and their corrections (edit a segment, find and replace, a segment's versions)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Query, Response
from fastapi.responses import JSONResponse

from vidigest.http.deps import SessionDep, StateDep
from vidigest.http.errors import ApiError, ErrorCode, error_responses
from vidigest.http.security import content_disposition
from vidigest.modules.transcription.documents import DOCUMENT_TYPES, DocumentError, document
from vidigest.modules.transcription.editing import (
    EditConflictError,
    InvalidEditError,
    TranscriptEditService,
)
from vidigest.modules.transcription.formats import ExportFormat, render, to_json
from vidigest.modules.transcription.schemas import (
    EditedSegment,
    ReplaceOut,
    ReplaceRequest,
    SegmentEdit,
    SegmentHistory,
    SegmentList,
    SegmentOut,
    SegmentVersionOut,
)
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.service import VideoService

router = APIRouter(prefix="/videos", tags=["transcription"])

MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    **DOCUMENT_TYPES,
}

_CONTENT: dict[str, Any] = {t.split(";")[0]: {} for t in MEDIA_TYPES.values()}


@router.get(
    "/{video_id}/transcript",
    summary="The transcript, as JSON (segments and words), SRT, VTT, text, DOCX or PDF",
    response_class=Response,
    responses={200: {"content": _CONTENT}, **error_responses(404)},
)
def get_transcript(
    video_id: str,
    session: SessionDep,
    fmt: Annotated[ExportFormat, Query(alias="format")] = "json",
    download: Annotated[bool, Query(description="Answer as an attachment")] = False,
) -> Response:
    video = VideoService(session).get(video_id)
    service = TranscriptService(session)
    if service.find_record(video_id) is None:
        raise ApiError(
            ErrorCode.NOT_FOUND, f"no transcript yet for video {video_id} ({video.status})"
        )
    transcript = service.load(video_id)
    headers = {}
    if download:
        stem = video.filename.rsplit(".", 1)[0] or "transcript"
        headers["Content-Disposition"] = content_disposition(
            "attachment", f"{stem}.{fmt}", default_stem="transcript"
        )
    if fmt == "json":
        return JSONResponse(to_json(transcript), headers=headers)
    if fmt == "docx" or fmt == "pdf":
        try:
            body = document(transcript, fmt, video.filename)
        except DocumentError as exc:
            raise ApiError(ErrorCode.NOT_READY, str(exc)) from exc
        return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)
    return Response(render(transcript, fmt), media_type=MEDIA_TYPES[fmt], headers=headers)


Index = Annotated[int, Path(ge=0, le=10_000_000, description="The segment's index")]


def _refused(exc: EditConflictError | InvalidEditError) -> ApiError:
    if isinstance(exc, InvalidEditError):
        return ApiError(ErrorCode.VALIDATION_ERROR, str(exc))
    current = None if exc.current is None else SegmentOut.of(exc.current).model_dump()
    return ApiError(ErrorCode.EDIT_CONFLICT, str(exc), current=current)


@router.get(
    "/{video_id}/segments",
    response_model=SegmentList,
    summary="The transcript's segments with their versions (what an edit sends back)",
    responses=error_responses(404),
)
def list_segments(video_id: str, session: SessionDep) -> SegmentList:
    revision, segments = TranscriptEditService(session).segments(video_id)
    return SegmentList(
        video_id=video_id, revision=revision, segments=[SegmentOut.of(s) for s in segments]
    )


@router.patch(
    "/{video_id}/segments/{index}",
    response_model=EditedSegment,
    summary="Correct a segment's text or speaker (409 if its version changed meanwhile)",
    responses=error_responses(404, 409, 422),
)
def edit_segment(
    video_id: str,
    index: Index,
    body: SegmentEdit,
    session: SessionDep,
    state: StateDep,
    after: BackgroundTasks,
) -> EditedSegment:
    try:
        segment, revision = TranscriptEditService(session).edit_segment(
            video_id, index, version=body.version, text=body.text, speaker=body.speaker
        )
    except (EditConflictError, InvalidEditError) as exc:
        raise _refused(exc) from exc
    after.add_task(state.wake_workers)  # once committed: the summary is made again (embedded)
    return EditedSegment(**SegmentOut.of(segment).model_dump(), revision=revision)


@router.get(
    "/{video_id}/segments/{index}/history",
    response_model=SegmentHistory,
    summary="Every version of a segment, the recognised text first",
    responses=error_responses(404),
)
def segment_history(video_id: str, index: Index, session: SessionDep) -> SegmentHistory:
    versions = TranscriptEditService(session).history(video_id, index)
    return SegmentHistory(
        video_id=video_id, index=index, versions=[SegmentVersionOut.of(v) for v in versions]
    )


@router.post(
    "/{video_id}/transcript/replace",
    response_model=ReplaceOut,
    summary="Find and replace across the transcript (or preview: count and list the changes)",
    responses=error_responses(404, 409, 422),
)
def replace_in_transcript(
    video_id: str,
    body: ReplaceRequest,
    session: SessionDep,
    state: StateDep,
    after: BackgroundTasks,
) -> ReplaceOut:
    try:
        result = TranscriptEditService(session).replace(
            video_id,
            body.find,
            body.replace,
            match_case=body.match_case,
            whole_word=body.whole_word,
            apply=not body.preview,
            expected_revision=body.expected_revision,
        )
    except (EditConflictError, InvalidEditError) as exc:
        raise _refused(exc) from exc
    if result.applied:
        after.add_task(state.wake_workers)  # once committed: the summary is made again
    return ReplaceOut.of(video_id, result)
