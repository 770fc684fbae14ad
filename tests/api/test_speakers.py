"""Speakers over HTTP: list and rename a video's speakers, voice profiles, the speaker options
of a registration, and names flowing into every export and into search. A real app on SQLite;
the diarized transcripts are built with the real services (data, not mocks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support import media
from tests.support.api import MakeClient, assert_error, upload
from tests.support.search import encoder
from tests.support.speakers import diarized_video, segment
from vidigest.common.constants import EventType
from vidigest.common.types import Transcript
from vidigest.database.session import Database, db_session_context
from vidigest.messaging.models import OutboxEvent
from vidigest.modules.search.index import reindex_video
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.models import Video
from vidigest.modules.videos.service import VideoService


@pytest.fixture
def client(make_client: MakeClient, sqlite_url: str) -> Iterator[TestClient]:
    yield make_client(sqlite_url)


def test_list_and_rename_flow_into_every_export_and_search(
    client: TestClient, sqlite_url: str
) -> None:
    video_id = diarized_video(sqlite_url)
    database = Database(sqlite_url)
    with db_session_context(database.session_factory) as session:
        reindex_video(session, video_id, encoder())  # as the indexing stage does
    database.dispose()
    listed = client.get(f"/videos/{video_id}/speakers")
    assert listed.status_code == 200, listed.text
    assert listed.json() == {
        "video_id": video_id,
        "speakers": [
            {
                "label": "SPEAKER_1",
                "name": None,
                "display_name": "Speaker 1",
                "talk_time": 4.0,
                "has_voice": True,
            },
            {
                "label": "SPEAKER_2",
                "name": None,
                "display_name": "Speaker 2",
                "talk_time": 4.0,
                "has_voice": False,
            },
        ],
    }
    renamed = client.patch(f"/videos/{video_id}/speakers/SPEAKER_2", json={"name": " Grace <H> "})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["display_name"] == "Grace <H>"

    transcript = client.get(f"/videos/{video_id}/transcript").json()
    assert [s["display_name"] for s in transcript["speakers"]] == ["Speaker 1", "Grace <H>"]
    assert [s["speaker_name"] for s in transcript["segments"]] == ["Speaker 1", "Grace <H>"]
    assert transcript["turns"][1] == {"start": 4.0, "end": 8.0, "speaker": "SPEAKER_2"}
    srt = client.get(f"/videos/{video_id}/transcript", params={"format": "srt"}).text
    assert "\nSpeaker 1: Welcome to the penguin panel.\n" in srt
    assert "\nGrace <H>: Thanks for having me.\n" in srt
    vtt = client.get(f"/videos/{video_id}/transcript", params={"format": "vtt"}).text
    assert "\n<v Grace &lt;H&gt;>Thanks for having me.\n" in vtt
    txt = client.get(f"/videos/{video_id}/transcript", params={"format": "txt"}).text
    assert txt == "Speaker 1: Welcome to the penguin panel.\nGrace <H>: Thanks for having me.\n"

    summary = client.get(f"/videos/{video_id}/summary").json()
    assert summary["key_points"][0]["speaker"] == "Grace <H>"
    assert summary["chapters"][0]["speakers"] == ["Speaker 1", "Grace <H>"]

    (hit,) = client.get("/search", params={"q": "having"}).json()["results"]
    assert (hit["speaker"], hit["speaker_name"]) == ("SPEAKER_2", "Grace <H>")

    cleared = client.patch(f"/videos/{video_id}/speakers/SPEAKER_2", json={"name": None})
    assert cleared.json()["display_name"] == "Speaker 2"
    (hit,) = client.get("/search", params={"q": "having"}).json()["results"]
    assert hit["speaker_name"] == "Speaker 2"


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 65},
        {"name": "a\nb"},
        {"name": "\x1b[31m"},
        {"name": 5},
        {},
        {"name": "ok", "extra": 1},
    ],
)
def test_rename_validation(client: TestClient, sqlite_url: str, body: object) -> None:
    video_id = diarized_video(sqlite_url)
    assert_error(
        client.patch(f"/videos/{video_id}/speakers/SPEAKER_1", json=body), 422, "validation_error"
    )


def test_rename_unknown_things_is_404(client: TestClient, sqlite_url: str) -> None:
    video_id = diarized_video(sqlite_url)
    body = {"name": "Ada"}
    assert_error(client.patch(f"/videos/{video_id}/speakers/SPEAKER_7", json=body), 404)
    assert_error(client.patch("/videos/nope/speakers/SPEAKER_1", json=body), 404, "not_found")
    assert_error(client.get("/videos/nope/speakers"), 404, "not_found")
    bad_label = client.patch(f"/videos/{video_id}/speakers/..%2Fx", json=body)
    assert bad_label.status_code in (404, 422)


def test_voice_profiles_crud(client: TestClient, sqlite_url: str) -> None:
    video_id = diarized_video(sqlite_url)
    created = client.post(
        "/voices", json={"video_id": video_id, "speaker": "SPEAKER_1", "name": "Ada"}
    )
    assert created.status_code == 201, created.text
    voice = created.json()
    assert set(voice) == {"id", "name", "created_at", "source_video_id", "source_speaker"}
    assert (voice["name"], voice["source_speaker"]) == ("Ada", "SPEAKER_1")
    # saving names the speaker in its video too
    speakers = client.get(f"/videos/{video_id}/speakers").json()["speakers"]
    assert speakers[0]["name"] == "Ada"

    listed = client.get("/voices").json()
    assert listed == {"voices": [voice]}  # no embedding ever leaves the server

    again = {"video_id": video_id, "speaker": "SPEAKER_1", "name": "Ada"}
    assert_error(client.post("/voices", json=again), 409, "conflict")  # the name is taken
    no_voice = {"video_id": video_id, "speaker": "SPEAKER_2", "name": "Grace"}
    assert_error(client.post("/voices", json=no_voice), 409, "conflict")
    unknown = {"video_id": video_id, "speaker": "SPEAKER_9", "name": "Grace"}
    assert_error(client.post("/voices", json=unknown), 404)
    assert_error(
        client.post("/voices", json={"video_id": "nope", "speaker": "SPEAKER_1", "name": "G"}),
        404,
    )
    for bad in (
        {"video_id": video_id, "speaker": "SPEAKER_1", "name": "tab\there"},
        {"video_id": video_id, "speaker": "SPEAKER 1", "name": "Grace"},
        {"video_id": video_id, "speaker": "SPEAKER_1"},
        {"video_id": video_id, "speaker": "SPEAKER_1", "name": "G", "embedding": [1.0]},
    ):
        assert_error(client.post("/voices", json=bad), 422, "validation_error")

    assert client.delete(f"/voices/{voice['id']}").status_code == 204
    assert client.get("/voices").json() == {"voices": []}
    assert_error(client.delete(f"/voices/{voice['id']}"), 404, "not_found")


def test_speakers_of_a_video_not_diarized(client: TestClient, sqlite_url: str) -> None:
    database = Database(sqlite_url)
    try:
        with db_session_context(database.session_factory) as session:
            video = VideoService(session).register(
                media_path=Path("/media/a.mp4"), source_type="path", source_uri="a.mp4"
            )
            TranscriptService(session).save(
                video.id,
                Transcript(language="en", duration=1.0, model="m", segments=(segment(0, 0, "hi"),)),
            )
            video_id = video.id
    finally:
        database.dispose()
    assert client.get(f"/videos/{video_id}/speakers").json()["speakers"] == []
    transcript = client.get(f"/videos/{video_id}/transcript").json()
    assert "speakers" not in transcript and "speaker" not in transcript["segments"][0]
    assert client.get(f"/videos/{video_id}/transcript?format=txt").text == "hi\n"


def test_speaker_routes_need_the_api_key(make_client: MakeClient, sqlite_url: str) -> None:
    client = make_client(sqlite_url, api_keys="k1")
    assert_error(client.get("/voices"), 401, "unauthorized")
    assert_error(client.get("/videos/x/speakers"), 401, "unauthorized")
    assert client.get("/voices", headers={"X-API-Key": "k1"}).status_code == 200


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.speech(tmp_path_factory.mktemp("clip"), "Two people talk here.", fmt="wav")


def test_registration_carries_the_speaker_options(
    client: TestClient, sqlite_url: str, clip: Path
) -> None:
    created = upload(client, clip, speakers="auto", min_speakers="2", max_speakers="3")
    assert created.status_code == 201, created.text
    off = upload(client, clip, speakers="OFF")
    assert off.status_code == 201, off.text
    plain = upload(client, clip)
    database = Database(sqlite_url)
    try:
        with db_session_context(database.session_factory) as session:
            rows = {v.id: v for v in session.scalars(select(Video))}
            payloads = {
                e.aggregate_id: e.payload["payload"]
                for e in session.scalars(
                    select(OutboxEvent).where(
                        OutboxEvent.event_type == EventType.VIDEO_REGISTERED.value
                    )
                )
            }
    finally:
        database.dispose()
    first = rows[created.json()["id"]]
    assert (first.speakers, first.min_speakers, first.max_speakers) == ("auto", 2, 3)
    assert payloads[first.id]["min_speakers"] == 2
    assert payloads[off.json()["id"]]["speakers"] == "off"
    # a video that chose nothing: the message is the one older workers read
    assert not {"speakers", "min_speakers", "max_speakers"} & set(payloads[plain.json()["id"]])

    for fields in (
        {"speakers": "many"},
        {"speakers": "0"},
        {"speakers": "33"},
        {"speakers": "2", "min_speakers": "1"},
        {"min_speakers": "4", "max_speakers": "2"},
        {"max_speakers": "0"},
    ):
        assert_error(upload(client, clip, **fields), 422, "validation_error")
