"""OpenAI-compatible audio routes: `POST /v1/audio/transcriptions`, `POST
/v1/audio/translations`, `GET /v1/models`. Errors here answer OpenAI's shape
(`http/errors.py`); the work is in `service.py`."""

from __future__ import annotations

from typing import Any, get_args

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from vidigest.common.types import Task
from vidigest.http.deps import SessionFactoryDep, SettingsDep, StateDep
from vidigest.http.errors import (
    ApiError,
    ErrorCode,
    invalid_request,
    openai_error_responses,
)
from vidigest.modules.openai_compat.schemas import (
    FORM_FIELDS,
    GRANULARITIES_FIELD,
    AudioOptions,
    Granularity,
    ModelList,
    ModelObject,
    ResponseFormat,
    TranscriptionJson,
    TranscriptionVerbose,
)
from vidigest.modules.openai_compat.service import (
    find_model,
    find_or_register,
    load_transcript,
    model_objects,
    render,
    resolve_model,
    wait_for_transcript,
)
from vidigest.modules.videos.media_files import check_upload, discard
from vidigest.modules.videos.sources import (
    ReceivedUpload,
    receive_multipart,
)

# OpenAI's error shape on every status, the app's defaults (401, 404, 422) included; a 422 is
# answered as 400 here, but the entry is replaced so that none documents the other envelope
router = APIRouter(
    prefix="/v1",
    tags=["openai-compatible"],
    responses=openai_error_responses(400, 401, 404, 422),
)

_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["file", "model"],
    "properties": {
        "file": {"type": "string", "format": "binary"},
        "model": {"type": "string", "description": "whisper-1 (the default), fast, accurate"},
        "language": {"type": "string", "description": "ISO-639-1 code of the speech"},
        "prompt": {"type": "string", "description": "accepted; not used"},
        "response_format": {"type": "string", "enum": list(get_args(ResponseFormat))},
        "temperature": {"type": "number", "description": "accepted; decoding is at 0"},
        GRANULARITIES_FIELD: {
            "type": "array",
            "items": {"type": "string", "enum": list(get_args(Granularity))},
        },
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        TranscriptionJson.model_json_schema(),
                        TranscriptionVerbose.model_json_schema(),
                    ]
                }
            },
            "text/plain": {},
        },
    },
    **openai_error_responses(413, 500, 504),
}
_OPENAPI = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM}}}
}


def _options(received: ReceivedUpload) -> AudioOptions:
    values: dict[str, Any] = dict(received.fields)
    values["timestamp_granularities"] = received.lists.get(GRANULARITIES_FIELD, [])
    try:
        return AudioOptions.model_validate(values)
    except ValidationError as exc:
        raise invalid_request(exc) from exc


async def _audio(
    request: Request, state: StateDep, session_factory: SessionFactoryDep, task: Task
) -> Response:
    settings = state.settings
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise ApiError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send multipart/form-data with 'file' and 'model'"
        )
    store = state.vidigest.store
    received = await receive_multipart(
        content_type,
        request.headers.get("content-length"),
        request.stream(),
        store,
        settings.max_upload_bytes,
        fields=FORM_FIELDS,
        repeated=(GRANULARITIES_FIELD,),
    )
    keep = False  # the stored upload stays only when it became a new video
    try:
        options = _options(received)
        spec = resolve_model(settings, options.model, task)
        await run_in_threadpool(check_upload, store, received, settings.max_media_seconds)
        video, keep = await run_in_threadpool(
            find_or_register, session_factory, received, spec, task, options
        )
    finally:
        if not keep:  # no video points at it: nothing left behind
            await run_in_threadpool(discard, session_factory, store, received.ref)
    state.wake_workers()
    await wait_for_transcript(
        session_factory, video.id, settings.openai_wait_seconds, request.is_disconnected
    )
    transcript = await run_in_threadpool(load_transcript, session_factory, video.id)
    body, media_type = render(
        transcript, options.response_format, task, options.timestamp_granularities
    )
    return Response(body, media_type=media_type, headers={"X-Vidigest-Video-Id": video.id})


@router.post(
    "/audio/transcriptions",
    summary="Transcribe audio (OpenAI-compatible)",
    response_class=Response,
    openapi_extra=_OPENAPI,
    responses=_RESPONSES,
)
async def transcriptions(
    request: Request, state: StateDep, session_factory: SessionFactoryDep
) -> Response:
    return await _audio(request, state, session_factory, "transcribe")


@router.post(
    "/audio/translations",
    summary="Translate audio into English (OpenAI-compatible)",
    response_class=Response,
    openapi_extra=_OPENAPI,
    responses=_RESPONSES,
)
async def translations(
    request: Request, state: StateDep, session_factory: SessionFactoryDep
) -> Response:
    return await _audio(request, state, session_factory, "translate")


@router.get("/models", response_model=ModelList, summary="Models (OpenAI-compatible)")
def list_models(settings: SettingsDep) -> ModelList:
    return ModelList(data=model_objects(settings))


@router.get("/models/{model_id}", response_model=ModelObject, summary="One model")
def get_model(model_id: str, settings: SettingsDep) -> ModelObject:
    return find_model(settings, model_id)
