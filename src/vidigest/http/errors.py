"""Where an HTTP error is shaped: the JSON envelope, `ApiError`, the codes and their statuses,
and the exception handlers.

Every error answer is `{"error": {"code": "...", "message": "..."}}` (a few add fields beside
`error`, e.g. the readiness report), except on the OpenAI-compatible routes (`/v1/...`), whose
clients read OpenAI's shape `{"error": {"message", "type", "param", "code"}}` with OpenAI's
statuses (400 for a request it cannot use, where we answer 415 or 422): `openai_error`.

A code names one cause and always comes with the same status (`ErrorCode` and its `STATUS`
table below are the only place that pairs them), so a client can switch on the code alone; a
status may carry several codes where clients must tell causes apart (413: the body is too big,
or the media plays too long).

This module imports no feature: `modules/videos/sources.py` raises `ApiError` from below the
routes without an import circle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from enum import StrEnum
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vidigest.common.exceptions import (
    CorruptMediaError,
    InvalidQueryError,
    MediaError,
    MediaTooLongError,
    NoAudioStreamError,
    NotFoundError,
    VideoStateError,
    VidigestError,
)
from vidigest.http.security_log import log_refusal

log = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    """Every code an error answer of ours carries (its status: `STATUS`, `.status`)."""

    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    TIMEOUT = "timeout"
    CONFLICT = "conflict"
    EDIT_CONFLICT = "edit_conflict"  # a correction made on a version that changed since
    PAYLOAD_TOO_LARGE = "payload_too_large"
    MEDIA_TOO_LONG = "media_too_long"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    MISDIRECTED_REQUEST = "misdirected_request"
    VALIDATION_ERROR = "validation_error"
    INVALID_QUERY = "invalid_query"
    BAD_URL = "bad_url"
    INTERNAL_ERROR = "internal_error"
    STORAGE_ERROR = "storage_error"
    BUSY = "busy"
    INTERRUPTED = "interrupted"
    NOT_READY = "not_ready"
    SEMANTIC_SEARCH_UNAVAILABLE = "semantic_search_unavailable"
    INSUFFICIENT_STORAGE = "insufficient_storage"
    PROCESSING_FAILED = "processing_failed"  # the video failed: its reason is the message
    STILL_PROCESSING = "still_processing"  # a result was waited for, and is not there yet

    @property
    def status(self) -> int:
        return STATUS[self]


STATUS: Final[Mapping[ErrorCode, int]] = MappingProxyType(
    {
        ErrorCode.BAD_REQUEST: 400,
        ErrorCode.UNAUTHORIZED: 401,
        ErrorCode.FORBIDDEN: 403,
        ErrorCode.NOT_FOUND: 404,
        ErrorCode.TIMEOUT: 408,
        ErrorCode.CONFLICT: 409,
        ErrorCode.EDIT_CONFLICT: 409,  # the answer carries `current`: the segment as it is
        ErrorCode.PAYLOAD_TOO_LARGE: 413,  # the request body
        ErrorCode.MEDIA_TOO_LONG: 413,  # the media's duration (VIDIGEST_MAX_MEDIA_SECONDS)
        ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,  # the request's Content-Type, or unreadable media
        ErrorCode.MISDIRECTED_REQUEST: 421,
        ErrorCode.VALIDATION_ERROR: 422,
        ErrorCode.INVALID_QUERY: 422,  # a sort or search expression
        ErrorCode.BAD_URL: 422,
        ErrorCode.INTERNAL_ERROR: 500,
        ErrorCode.STORAGE_ERROR: 500,
        ErrorCode.BUSY: 503,
        ErrorCode.INTERRUPTED: 503,
        ErrorCode.NOT_READY: 503,
        ErrorCode.SEMANTIC_SEARCH_UNAVAILABLE: 503,  # no vector search on this database
        ErrorCode.INSUFFICIENT_STORAGE: 507,
        ErrorCode.PROCESSING_FAILED: 500,
        ErrorCode.STILL_PROCESSING: 504,
    }
)


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every error answer: {"error": {"code": "...", "message": "..."}}."""

    error: ErrorBody


class ApiError(VidigestError):
    """A refusal the API answers as `code`'s status with `message` (which the client reads: no
    server path, no SQL). A `VidigestError`, so the CLI, which reuses the registration sources,
    prints it as one line too."""

    def __init__(
        self, code: ErrorCode, message: str, /, *, param: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = code.status
        self.message = message
        self.extra = extra  # fields beside `error` in the answer (JSON-serialisable)
        self.param = param  # the request field at fault (OpenAI's `param`), when one is


# --- OpenAI's shape, on the OpenAI-compatible routes -------------------------------------------

OPENAI_PREFIX = "/v1/"
# the statuses OpenAI answers where ours differ: a request it cannot use is a 400
_OPENAI_STATUS: Final[Mapping[int, int]] = MappingProxyType({415: 400, 422: 400})
_OPENAI_CODES: Final[Mapping[str, str]] = MappingProxyType(
    {ErrorCode.UNAUTHORIZED.value: "invalid_api_key"}
)


class OpenAIErrorBody(BaseModel):
    message: str
    type: str  # invalid_request_error, permission_error, rate_limit_error, server_error
    param: str | None  # the request field at fault
    code: str | None


class OpenAIErrorResponse(BaseModel):
    """Every error answer of the OpenAI-compatible routes."""

    error: OpenAIErrorBody


def openai_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries: these statuses answer OpenAI's error shape."""
    return {
        status: {"model": OpenAIErrorResponse, "description": HTTPStatus(status).phrase}
        for status in statuses
    }


def openai_type(status: int) -> str:
    """OpenAI's error `type` for a status."""
    if status == 401:
        return "invalid_request_error"  # what OpenAI answers for a wrong key
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def openai_error(
    status: int,
    code: str,
    message: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """`{"error": {"message", "type", "param", "code"}}`, as OpenAI's clients parse it."""
    status = _OPENAI_STATUS.get(status, status)
    body = {
        "message": message,
        "type": openai_type(status),
        "param": param,
        "code": _OPENAI_CODES.get(code, code),
    }
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _on_openai_route(request: Request) -> bool:
    return request.url.path.startswith(OPENAI_PREFIX)


def envelope(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    /,
    **extra: Any,
) -> JSONResponse:
    """The envelope with any status: for Starlette's own refusals (404 route, 405) too."""
    return JSONResponse(
        {"error": {"code": code, "message": message}, **extra}, status_code=status, headers=headers
    )


def error_response(code: ErrorCode, message: str, /, **extra: Any) -> JSONResponse:
    """The envelope of one of our codes, with its status."""
    return envelope(code.status, code.value, message, **extra)


def code_for_status(status: int) -> str:
    """The code of an HTTP error Starlette raises itself (no route, method not allowed): its
    status phrase in snake case."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries: these statuses answer the envelope."""
    return {
        status: {"model": ErrorResponse, "description": HTTPStatus(status).phrase}
        for status in statuses
    }


# what every route may answer (auth, unknown id, bad parameters); routes add their own
ERROR_RESPONSES = error_responses(401, 404, 422)


def media_problem(exc: MediaError) -> ApiError:
    """A file no worker could decode, or would decode for longer than allowed, as the client
    is told (the reason, never the server's path)."""
    if isinstance(exc, MediaTooLongError):
        return ApiError(ErrorCode.MEDIA_TOO_LONG, str(exc))
    if isinstance(exc, NoAudioStreamError):
        message = "the file has no audio track"
    elif isinstance(exc, CorruptMediaError):
        message = f"not a video or audio file vidigest can read ({exc.reason})"
    else:
        message = "the media file cannot be read"
    return ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, message)


def invalid_request(exc: ValidationError) -> RequestValidationError:
    """A body a route validated itself (a multipart form, a streamed JSON body), refused as
    FastAPI refuses its own: the same handler, the same answer."""
    return RequestValidationError(
        json.loads(exc.json(include_url=False, include_context=False, include_input=False))
    )


def _validation_message(errors: list[Any]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _answer(request: Request, exc: ApiError) -> JSONResponse:
    log_refusal(request.scope, exc.status, exc.code, exc.message)
    if _on_openai_route(request):
        return openai_error(exc.status, exc.code.value, exc.message, exc.param)
    return error_response(exc.code, exc.message, **exc.extra)


def _shaped(request: Request, code: ErrorCode, message: str, /, **extra: Any) -> JSONResponse:
    """One of our codes, in the shape of the route's clients."""
    if _on_openai_route(request):
        return openai_error(code.status, code.value, message, extra.pop("param", None))
    extra.pop("param", None)
    return error_response(code, message, **extra)


def install_error_handlers(app: FastAPI) -> None:
    """Every exception a route lets out becomes the envelope; an unexpected one a 500 whose
    message says nothing of the cause (the log has it)."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return _answer(request, exc)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = code_for_status(exc.status_code)
        message = exc.detail if isinstance(exc.detail, str) else code
        log_refusal(request.scope, exc.status_code, code, message)
        if _on_openai_route(request):
            return openai_error(exc.status_code, code, message, None, exc.headers)
        return envelope(exc.status_code, code, message, exc.headers)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in errors
        ]
        message = _validation_message(errors)
        loc = [p for p in errors[0].get("loc", ()) if p != "body"] if errors else []
        param = str(loc[0]) if loc else None
        return _shaped(request, ErrorCode.VALIDATION_ERROR, message, details=details, param=param)

    async def on_not_found(request: Request, exc: Exception) -> JSONResponse:
        return _shaped(request, ErrorCode.NOT_FOUND, str(exc))

    async def on_invalid_query(request: Request, exc: Exception) -> JSONResponse:
        return _shaped(request, ErrorCode.INVALID_QUERY, str(exc))

    async def on_state_error(request: Request, exc: Exception) -> JSONResponse:
        return _shaped(request, ErrorCode.CONFLICT, str(exc))

    async def on_media_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, MediaError)
        return _answer(request, media_problem(exc))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _shaped(request, ErrorCode.INTERNAL_ERROR, "internal server error")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(NotFoundError, on_not_found)
    app.add_exception_handler(InvalidQueryError, on_invalid_query)
    app.add_exception_handler(VideoStateError, on_state_error)
    app.add_exception_handler(MediaError, on_media_error)
    app.add_exception_handler(Exception, on_unexpected)
