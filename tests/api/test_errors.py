"""The one place an HTTP error is shaped (`vidigest.http.errors`): every code has one status,
every way a refusal reaches the client answers the same code for the same cause, and the
OpenAPI document describes the envelope for every error answer."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from uvicorn.importer import import_from_string

from tests.support.api import MakeClient
from vidigest.cli import SERVE_FACTORY
from vidigest.common.exceptions import (
    CorruptMediaError,
    MediaError,
    MediaNotFoundError,
    MediaTooLongError,
    NoAudioStreamError,
)
from vidigest.http.errors import STATUS, ApiError, ErrorCode, install_error_handlers
from vidigest.http.main import create_app_from_env


def test_every_code_has_exactly_one_status() -> None:
    assert set(STATUS) == set(ErrorCode)
    for code in ErrorCode:
        error = ApiError(code, "why")
        assert (error.status, error.code, error.message) == (STATUS[code], code, "why")
        assert 400 <= error.status < 600


def _raising(exc: Exception) -> TestClient:
    """A real app with the handlers of every vidigest app and one route that raises `exc`."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("exc", "status", "code", "message"),
    [
        (NoAudioStreamError("a.mp4", "/srv/a.mp4"), 415, "unsupported_media_type", "no audio"),
        (CorruptMediaError("a.mp4", "bad header", "/srv/a"), 415, "unsupported_media_type", "bad"),
        (MediaNotFoundError("a.mp4", "/srv/a.mp4"), 415, "unsupported_media_type", "cannot be"),
        (MediaTooLongError(9000, 60, declared=True), 413, "media_too_long", ""),
    ],
)
def test_a_media_error_answers_as_at_registration(
    exc: MediaError, status: int, code: str, message: str
) -> None:
    """A media problem that reaches the handlers answers what registration answers (415 was
    `unsupported_media` here and `unsupported_media_type` there), and never the server path."""
    response = _raising(exc).get("/boom")
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and message in error["message"]
    assert "/srv" not in response.text


def test_an_unexpected_error_says_nothing_of_its_cause() -> None:
    response = _raising(RuntimeError("password=hunter2 at /srv/x")).get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }


def test_openapi_describes_the_envelope_for_every_error_answer(
    make_client: MakeClient, sqlite_url: str
) -> None:
    document = make_client(sqlite_url).get("/openapi.json").json()
    envelope = document["components"]["schemas"]["ErrorResponse"]
    assert envelope["properties"]["error"]["$ref"] == "#/components/schemas/ErrorBody"
    errors = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    errors += 1
                    schema = response["content"]["application/json"]["schema"]
                    # the OpenAI-compatible routes answer OpenAI's shape instead
                    shape = "OpenAIErrorResponse" if path.startswith("/v1/") else "ErrorResponse"
                    assert schema == {"$ref": f"#/components/schemas/{shape}"}, (
                        method,
                        path,
                        status,
                    )
    assert errors >= 20  # every route: 401, 404, 422 at least


def test_the_serve_factory_names_the_app_factory() -> None:
    """`serve --workers N` hands uvicorn a string: it must import, and be the factory."""
    assert import_from_string(SERVE_FACTORY) is create_app_from_env
