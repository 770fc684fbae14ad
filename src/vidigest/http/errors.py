"""Where an HTTP error is shaped: the JSON envelope, `ApiError`, the codes and their statuses,
and the exception handlers.

Every error answer is `{"error": {"code": "...", "message": "..."}}` (a few add fields beside
`error`, e.g. the readiness report). A code names one cause and always comes with the same
status (`ErrorCode` and its `STATUS` table below are the only place that pairs them), so a
client can switch on the code alone; a status may carry several codes where clients must tell
causes apart (413: the body is too big, or the media plays too long).

This module imports no feature: `modules/videos/sources.py` raises `ApiError` from below the
routes without an import circle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
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

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = code.status
        self.message = message


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


def _validation_message(errors: list[Any]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _answer(request: Request, exc: ApiError) -> JSONResponse:
    log_refusal(request.scope, exc.status, exc.code, exc.message)
    return error_response(exc.code, exc.message)


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
        return envelope(exc.status_code, code, message, exc.headers)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in errors
        ]
        message = _validation_message(errors)
        return error_response(ErrorCode.VALIDATION_ERROR, message, details=details)

    async def on_not_found(_: Request, exc: Exception) -> JSONResponse:
        return error_response(ErrorCode.NOT_FOUND, str(exc))

    async def on_invalid_query(_: Request, exc: Exception) -> JSONResponse:
        return error_response(ErrorCode.INVALID_QUERY, str(exc))

    async def on_state_error(_: Request, exc: Exception) -> JSONResponse:
        return error_response(ErrorCode.CONFLICT, str(exc))

    async def on_media_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, MediaError)
        return _answer(request, media_problem(exc))

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(ErrorCode.INTERNAL_ERROR, "internal server error")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(NotFoundError, on_not_found)
    app.add_exception_handler(InvalidQueryError, on_invalid_query)
    app.add_exception_handler(VideoStateError, on_state_error)
    app.add_exception_handler(MediaError, on_media_error)
    app.add_exception_handler(Exception, on_unexpected)
