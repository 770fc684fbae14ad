"""HTTP routes of the video aggregate: register (upload, server path, URL), list, read, status
history, media (with Range), retry, delete."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from vidigest.common.constants import VideoStatus
from vidigest.common.exceptions import StorageError
from vidigest.common.speakers import MAX_SPEAKER_COUNT, SPEAKERS_PATTERN
from vidigest.database.repository import GenericRepository
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.http.deps import SessionDep, SessionFactoryDep, StateDep
from vidigest.http.errors import (
    ApiError,
    ErrorCode,
    error_responses,
    invalid_request,
)
from vidigest.http.security import content_disposition
from vidigest.modules.videos.downloads import DownloadPool
from vidigest.modules.videos.media_files import check_upload, discard, purge_one, queue_deletion
from vidigest.modules.videos.media_type import playable_media_type, stored_media_type
from vidigest.modules.videos.models import Video
from vidigest.modules.videos.schemas import (
    LANGUAGE_PATTERN,
    UPLOAD_FIELDS,
    RegisterOptions,
    RegisterRequest,
    StatusLogEntry,
    VideoList,
    VideoOut,
)
from vidigest.modules.videos.service import VideoService, VideoStatusLogService
from vidigest.modules.videos.sources import (
    ReceivedUpload,
    check_url,
    parse_url,
    receive_multipart,
    store_failure,
    store_server_file,
    url_filename,
)
from vidigest.storage import MediaStore

log = logging.getLogger(__name__)

router = APIRouter(prefix="/videos", tags=["videos"])

MAX_JSON_BODY = 64 * 1024
_UPLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The video or audio"},
        "language": {"type": "string", "pattern": LANGUAGE_PATTERN},
        "model": {"type": "string", "enum": ["fast", "accurate"]},
        "task": {"type": "string", "enum": ["transcribe", "translate"]},
        "speakers": {"type": "string", "pattern": SPEAKERS_PATTERN},
        "min_speakers": {"type": "integer", "minimum": 1, "maximum": MAX_SPEAKER_COUNT},
        "max_speakers": {"type": "integer", "minimum": 1, "maximum": MAX_SPEAKER_COUNT},
        "callback_url": {"type": "string", "maxLength": 2048},
    },
}
_REGISTER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _UPLOAD_SCHEMA},
            "application/json": {"schema": RegisterRequest.model_json_schema()},
        },
    }
}


async def _json_body(request: Request) -> RegisterRequest:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_JSON_BODY:
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, "the JSON body is too large")
    try:
        return RegisterRequest.model_validate_json(bytes(body))
    except ValidationError as exc:
        raise invalid_request(exc) from exc


# (session, video id, callback_url) -> the secret its webhooks are signed with: the webhooks
# feature, handed over by the composition root (`Vidigest.add_callback`), so this module
# imports none
AddCallback = Callable[[Session, str, str], str]


def _registered(video: Video, secret: str | None) -> VideoOut:
    out = VideoOut.of(video)
    out.callback_secret = secret
    return out


def _register(
    session_factory: SessionFactory,
    received: ReceivedUpload,
    source_type: str,
    source_uri: str,
    options: RegisterOptions,
    add_callback: AddCallback,
) -> tuple[Video, str | None]:
    """One transaction: the video, its event and its callback endpoint."""
    with db_session_context(session_factory) as session:
        video = VideoService(session).register(
            media_path=received.ref,
            size_bytes=received.size,
            source_type=source_type,
            source_uri=source_uri,
            filename=received.filename,
            language=options.language_code,
            model=options.model,
            speakers=options.speakers,
            min_speakers=options.min_speakers,
            max_speakers=options.max_speakers,
            task=options.task,
            content_sha256=received.sha256,
        )
        secret = None
        if options.callback_url is not None:
            secret = add_callback(session, video.id, options.callback_url)
        return video, secret


def _downloads_busy() -> ApiError:
    return ApiError(
        ErrorCode.BUSY,
        "too many URL downloads are running or waiting; try again in a few minutes",
    )


async def _register_url(
    pool: DownloadPool,
    session_factory: SessionFactory,
    raw_url: str,
    options: RegisterOptions,
    response: Response,
    add_callback: AddCallback,
) -> VideoOut:
    """A URL video is DOWNLOADING at once (202): the download runs in the download pool, not
    in this request. The URL is checked here first (syntax, and the address policy on the
    first hop: 403 before any connection); every hop is checked again when it is fetched."""
    url = parse_url(raw_url)
    await run_in_threadpool(check_url, url, pool.allowed)
    if not pool.reserve():
        raise _downloads_busy()
    try:
        video, secret = await run_in_threadpool(
            _register_download, session_factory, raw_url, options, add_callback
        )
    except BaseException:
        pool.release()
        raise
    pool.submit(video.id, raw_url, video.filename)
    response.status_code = 202
    return _registered(video, secret)


def _register_download(
    session_factory: SessionFactory,
    raw_url: str,
    options: RegisterOptions,
    add_callback: AddCallback,
) -> tuple[Video, str | None]:
    with db_session_context(session_factory) as session:
        video = VideoService(session).register_download(
            url=raw_url,
            filename=url_filename(raw_url),
            language=options.language_code,
            model=options.model,
            speakers=options.speakers,
            min_speakers=options.min_speakers,
            max_speakers=options.max_speakers,
            task=options.task,
        )
        secret = None
        if options.callback_url is not None:
            secret = add_callback(session, video.id, options.callback_url)
        return video, secret


@router.post(
    "",
    status_code=201,
    response_model=VideoOut,
    summary="Register a video (upload, server path or URL)",
    description="An upload or a server path answers 201 with the REGISTERED video; a URL "
    "answers 202 with a DOWNLOADING video whose download runs in the background.",
    openapi_extra=_REGISTER_BODY,
    responses={
        202: {"model": VideoOut, "description": "URL accepted"},
        **error_responses(403, 409, 413, 415, 503),
    },
)
async def register_video(
    request: Request, state: StateDep, session_factory: SessionFactoryDep, response: Response
) -> VideoOut:
    settings = state.settings
    store = state.vidigest.store
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    received: ReceivedUpload | None = None  # the stored file: removed if registration fails
    try:
        if kind == "multipart/form-data":
            received = await receive_multipart(
                content_type,
                request.headers.get("content-length"),
                request.stream(),
                store,
                settings.max_upload_bytes,
                fields=UPLOAD_FIELDS,
            )
            try:
                options = RegisterOptions.model_validate(received.fields)
            except ValidationError as exc:
                raise invalid_request(exc) from exc
            source_type, source_uri = "upload", received.filename
        elif kind == "application/json":
            body = await _json_body(request)
            options = body
            if body.path is not None:
                roots = settings.path_root_list if settings.allow_path_registration else []
                received = await run_in_threadpool(store_server_file, body.path, roots, store)
                source_type, source_uri = "path", received.origin or received.filename
            else:
                assert body.url is not None
                if not settings.allow_url_registration:
                    raise ApiError(ErrorCode.FORBIDDEN, "registering URLs is disabled")
                if options.callback_url is not None:  # refused before anything is fetched
                    await run_in_threadpool(state.vidigest.check_callback, options.callback_url)
                return await _register_url(
                    state.downloads,
                    session_factory,
                    body.url,
                    options,
                    response,
                    state.vidigest.add_callback,
                )
        else:
            raise ApiError(
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                'send multipart/form-data with a \'file\' part, or JSON {"path"} / {"url"}',
            )
        if options.callback_url is not None:
            await run_in_threadpool(state.vidigest.check_callback, options.callback_url)
        await run_in_threadpool(check_upload, store, received, settings.max_media_seconds)
        video, secret = await run_in_threadpool(
            _register,
            session_factory,
            received,
            source_type,
            source_uri,
            options,
            state.vidigest.add_callback,
        )
    except BaseException:
        if received is not None:  # no video points at it: nothing left behind
            await run_in_threadpool(discard, session_factory, store, received.ref)
        raise
    state.wake_workers()
    return _registered(video, secret)


@router.get("", response_model=VideoList, summary="List videos")
def list_videos(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    status: Annotated[VideoStatus | None, Query(description="Only this status")] = None,
    sort: Annotated[
        str, Query(max_length=100, description="'<column>' or '<column> ASC|DESC'")
    ] = "created_at DESC",
) -> VideoList:
    repository = GenericRepository(session, Video)
    filters = {"status": status.value} if status else None
    videos = repository.find_all(filters, order_by=[sort, "id"], limit=limit, offset=offset)
    return VideoList(
        items=[VideoOut.of(v) for v in videos],
        total=repository.count(filters),
        limit=limit,
        offset=offset,
    )


@router.api_route(
    "/{video_id}",
    methods=["GET", "HEAD"],
    response_model=VideoOut,
    summary="One video: status and progress",
)
def get_video(video_id: str, session: SessionDep) -> VideoOut:
    return VideoOut.of(VideoService(session).get(video_id))


@router.get(
    "/{video_id}/status-log",
    response_model=list[StatusLogEntry],
    summary="The video's status transitions, oldest first",
)
def status_log(video_id: str, session: SessionDep) -> list[StatusLogEntry]:
    VideoService(session).get(video_id)
    return [
        StatusLogEntry(
            at=entry.created_at,
            from_status=VideoStatus(entry.from_status) if entry.from_status else None,
            to_status=VideoStatus(entry.to_status),
            reason=entry.reason,
        )
        for entry in VideoStatusLogService(session).history(video_id)
    ]


@router.api_route(
    "/{video_id}/media",
    methods=["GET", "HEAD"],
    summary="The media file (supports Range requests)",
    description="Served inline as `audio/*` or `video/*` as PyAV finds the container (never "
    "from the file name); anything else as an `application/octet-stream` attachment. With a "
    "bucket store and `VIDIGEST_STORAGE_PRESIGN=true`, a 307 to a short-lived presigned URL.",
    response_class=FileResponse,
    responses={
        200: {"content": {"video/*": {}, "audio/*": {}, "application/octet-stream": {}}},
        206: {"description": "Range"},
        307: {"description": "The presigned URL of the object in the bucket"},
    },
)
def video_media(video_id: str, request: Request, session: SessionDep, state: StateDep) -> Response:
    video = VideoService(session).get(video_id)
    store = state.vidigest.store
    if video.media_path.startswith("s3://"):
        try:
            return _object_media(request, video, store, state.settings)
        except StorageError as exc:
            raise store_failure(exc) from exc
    path = Path(video.media_path)
    if not path.is_file():
        raise ApiError(ErrorCode.NOT_FOUND, "the media file of this video is gone")
    media_type = playable_media_type(path)
    disposition: Literal["inline", "attachment"] = "inline"
    if media_type is None:
        media_type, disposition = "application/octet-stream", "attachment"
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Content-Disposition": content_disposition(disposition, video.filename)},
    )


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _object_media(request: Request, video: Video, store: MediaStore, settings: Any) -> Response:
    """/media of an object in the bucket: its bytes relayed (one Range honoured; several
    ranges get the whole file, as RFC 9110 allows), or a 307 to a presigned URL."""
    ref = video.media_path
    size = store.size(ref)
    if size is None:
        raise ApiError(ErrorCode.NOT_FOUND, "the media file of this video is gone")
    media_type = stored_media_type(ref, size, store.open)
    disposition: Literal["inline", "attachment"] = "inline"
    if media_type is None:
        media_type, disposition = "application/octet-stream", "attachment"
    if settings.storage_presign and disposition == "inline":
        url = store.presigned_url(
            ref, settings.storage_presign_seconds, filename=video.filename, media_type=media_type
        )
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    headers = {
        "Content-Disposition": content_disposition(disposition, video.filename),
        "Accept-Ranges": "bytes",
    }
    start, end, status = 0, size - 1, 200
    match = _RANGE.match(request.headers.get("range", "").strip())
    if match and (match.group(1) or match.group(2)):
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        else:  # the last N bytes
            start = max(0, size - int(last))
        if start >= size or start > end:
            return Response(
                status_code=416, headers={"Content-Range": f"bytes */{size}", **headers}
            )
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    if size == 0 or request.method == "HEAD":  # HEAD: the headers of the GET, no body
        return Response(b"", status_code=status, media_type=media_type, headers=headers)
    return StreamingResponse(
        store.iter_range(ref, start, end),
        status_code=status,
        media_type=media_type,
        headers=headers,
    )


@router.post(
    "/{video_id}/retry",
    response_model=VideoOut,
    status_code=202,
    summary="Queue a FAILED video again",
    responses=error_responses(409),
)
def retry_video(video_id: str, state: StateDep, session_factory: SessionFactoryDep) -> VideoOut:
    """One conditional UPDATE decides: of concurrent retries exactly one is accepted, the
    others answer 409. A URL video whose download failed is downloaded again."""
    with db_session_context(session_factory) as session:
        current = VideoService(session).get(video_id)
        download = current.awaits_download
    pool = state.downloads
    if download and not pool.reserve():
        raise _downloads_busy()
    try:
        with db_session_context(session_factory) as session:
            video = VideoService(session).retry(video_id)
    except BaseException:
        if download:
            pool.release()
        raise
    if video.status == VideoStatus.DOWNLOADING.value:
        pool.submit(video.id, video.source_uri, video.filename)
    else:
        if download:
            pool.release()
        state.wake_workers()
    return VideoOut.of(video)


@router.post(
    "/{video_id}/cancel",
    response_model=VideoOut,
    summary="Stop processing a video",
    description='The video becomes FAILED with the reason "cancelled by the user" (it may '
    "then be retried or deleted); the worker busy with it stops at its next check (within a "
    "few seconds, or at the end of the batch of speech being decoded) and stores nothing more. "
    "409 for a video that is COMPLETED or FAILED already.",
    responses=error_responses(409),
)
def cancel_video(video_id: str, state: StateDep, session_factory: SessionFactoryDep) -> VideoOut:
    with db_session_context(session_factory) as session:
        video = VideoService(session).cancel(video_id)
        out = VideoOut.of(video)
    state.downloads.cancel(video_id)  # a download running for it stops now
    return out


@router.delete(
    "/{video_id}",
    status_code=204,
    summary="Delete a video: rows and stored media",
    description="Only a COMPLETED or FAILED video (409 while it is processed: cancel it first).",
    responses=error_responses(409),
)
def delete_video(video_id: str, state: StateDep, session_factory: SessionFactoryDep) -> Response:
    store = state.vidigest.store
    with db_session_context(session_factory) as session:
        video = VideoService(session).delete(video_id)
        # every API registration stores its file (a path's too); one registered in place is
        # kept. Queued in the delete's transaction: a store that is down delays it, no more
        queued = queue_deletion(session, store, video.media_path)
    if queued is not None:
        try:
            purge_one(session_factory, store, queued.id)
        except Exception:  # the video is deleted; its file stays queued for the sweeper
            log.exception("media deletion %d: left to the sweeper", queued.id)
    return Response(status_code=204)
