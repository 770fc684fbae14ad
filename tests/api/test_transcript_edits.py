"""Transcript corrections over HTTP: edit a segment on its version (a stale one is refused and
nothing is lost), its versions, find and replace with a preview, speakers, search and every
export (DOCX and PDF read back) following the edit; the `transcript.edited` event in the outbox.
A real app on SQLite and PostgreSQL; the video is made with the real services."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pypdf
import pytest
from sqlalchemy import select

from tests.support.api import MakeClient, assert_error
from tests.support.speakers import diarized_video, segment
from vidigest.common.constants import EventType, VideoStatus
from vidigest.common.types import Transcript
from vidigest.database.session import Database, db_session_context
from vidigest.messaging.models import OutboxEvent
from vidigest.modules.search.service import search_segments
from vidigest.modules.transcription.models import TranscriptSegmentVersion
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.service import VideoService


def edited_events(database_url: str) -> list[dict[str, object]]:
    database = Database(database_url)
    try:
        with db_session_context(database.session_factory) as session:
            rows = session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.event_type == EventType.TRANSCRIPT_EDITED.value)
                .order_by(OutboxEvent.id)
            ).all()
            return [{"topic": r.topic, **r.payload["payload"]} for r in rows]
    finally:
        database.dispose()


def search(backend: str, words: str) -> list[tuple[int, str]]:
    """Segment-level full-text search, which follows a correction in its own transaction (the
    passages of GET /search follow once the indexing stage has consumed transcript.edited:
    tests/e2e/test_transcript_edits_pipeline.py)."""
    database = Database(backend)
    try:
        with db_session_context(database.session_factory) as session:
            return [(hit.segment_index, hit.text) for hit in search_segments(session, words)]
    finally:
        database.dispose()


def test_edit_a_segment_on_its_version(backend: str, make_client: MakeClient) -> None:
    client = make_client(backend)  # migrates the database
    video_id = diarized_video(backend)
    listed = client.get(f"/videos/{video_id}/segments").json()
    assert listed["revision"] == 0
    first = listed["segments"][0]
    assert (first["text"], first["version"], first["edited"]) == (
        " Welcome to the penguin panel.",
        1,
        False,
    )
    assert search(backend, "penguin") == [(0, " Welcome to the penguin panel.")]

    edited = client.patch(
        f"/videos/{video_id}/segments/0",
        json={"version": 1, "text": "Welcome to the  walrus\npanel."},
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["text"], body["version"], body["edited"], body["revision"]) == (
        "Welcome to the walrus panel.",
        2,
        True,
        1,
    )
    # search sees the new word, not the old one
    assert search(backend, "walrus") == [(0, "Welcome to the walrus panel.")]
    assert search(backend, "penguin") == []

    # a second edit made on version 1 is refused: nothing stored, the answer says what is there
    stale = client.patch(
        f"/videos/{video_id}/segments/0", json={"version": 1, "text": "Welcome, seals."}
    )
    error = assert_error(stale, 409, "edit_conflict")
    assert "changed elsewhere" in error["message"]
    assert stale.json()["current"]["text"] == "Welcome to the walrus panel."
    assert stale.json()["current"]["version"] == 2
    assert search(backend, "seals") == []

    history = client.get(f"/videos/{video_id}/segments/0/history").json()["versions"]
    assert [(v["version"], v["text"], v["source"]) for v in history] == [
        (1, " Welcome to the penguin panel.", "asr"),
        (2, "Welcome to the walrus panel.", "edit"),
    ]
    untouched = client.get(f"/videos/{video_id}/segments/1/history").json()["versions"]
    assert [(v["version"], v["source"], v["created_at"]) for v in untouched] == [(1, "asr", None)]

    # every export reflects it
    txt = client.get(f"/videos/{video_id}/transcript", params={"format": "txt"}).text
    assert "walrus" in txt and "penguin" not in txt
    as_json = client.get(f"/videos/{video_id}/transcript").json()
    assert as_json["segments"][0]["text"] == "Welcome to the walrus panel."
    assert "walrus" in as_json["text"]

    # the same values again change nothing and write no event
    same = client.patch(
        f"/videos/{video_id}/segments/0",
        json={"version": 2, "text": "Welcome to the walrus panel."},
    )
    assert (same.json()["version"], same.json()["revision"]) == (2, 1)
    assert edited_events(backend) == [
        {
            "topic": "transcript.edited",
            "video_id": video_id,
            "transcript_id": edited_events(backend)[0]["transcript_id"],
            "revision": 1,
            "segments": [0],
            "kind": "edit",
        }
    ]
    summary = client.get(f"/videos/{video_id}/summary").json()
    # no worker runs in this app: the summary is of revision 0 until the summary stage runs
    assert (summary["summary_revision"], summary["transcript_revision"]) == (0, 1)
    assert summary["up_to_date"] is False


def test_change_a_segments_speaker(sqlite_url: str, make_client: MakeClient) -> None:
    client = make_client(sqlite_url)  # migrates the database
    video_id = diarized_video(sqlite_url)
    moved = client.patch(
        f"/videos/{video_id}/segments/1", json={"version": 1, "speaker": "SPEAKER_1"}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["speaker"], moved.json()["text"]) == (
        "SPEAKER_1",
        " Thanks for having me.",
    )
    transcript = client.get(f"/videos/{video_id}/transcript").json()
    assert [s["speaker_name"] for s in transcript["segments"]] == ["Speaker 1", "Speaker 1"]
    assert {w["speaker"] for w in transcript["segments"][1]["words"]} == {"SPEAKER_1"}
    speakers = client.get(f"/videos/{video_id}/speakers").json()["speakers"]
    assert [s["label"] for s in speakers] == ["SPEAKER_1", "SPEAKER_2"]  # both still there

    unknown = client.patch(
        f"/videos/{video_id}/segments/1", json={"version": 2, "speaker": "SPEAKER_9"}
    )
    assert "unknown speaker" in assert_error(unknown, 422, "validation_error")["message"]
    history = client.get(f"/videos/{video_id}/segments/1/history").json()["versions"]
    assert [(v["speaker"], v["source"]) for v in history] == [
        ("SPEAKER_2", "asr"),
        ("SPEAKER_1", "edit"),
    ]


def test_refusals(sqlite_url: str, make_client: MakeClient) -> None:
    client = make_client(sqlite_url)  # migrates the database
    video_id = diarized_video(sqlite_url)
    assert_error(
        client.patch(f"/videos/{video_id}/segments/7", json={"version": 1, "text": "x"}),
        404,
        "not_found",
    )
    assert_error(client.patch("/videos/nope/segments/0", json={"version": 1, "text": "x"}), 404)
    assert_error(client.patch(f"/videos/{video_id}/segments/0", json={"text": "no version"}), 422)
    assert_error(
        client.patch(f"/videos/{video_id}/segments/0", json={"version": 1, "txt": "typo"}), 422
    )
    too_long = client.patch(
        f"/videos/{video_id}/segments/0", json={"version": 1, "text": "x" * 5001}
    )
    assert_error(too_long, 422)
    # a video being processed (its summary on its way) is not corrected meanwhile
    database = Database(sqlite_url)
    try:
        with db_session_context(database.session_factory) as session:
            videos = VideoService(session)
            busy = videos.register(
                media_path=Path("/media/busy.mp4"), source_type="path", source_uri="busy.mp4"
            )
            for status in (VideoStatus.TRANSCRIBING, VideoStatus.TRANSCRIBED):
                videos.transition(busy.id, status)
            TranscriptService(session).save(
                busy.id,
                Transcript(
                    language="en", duration=2.0, model="m", segments=(segment(0, 0, "Hi."),)
                ),
            )
            busy_id = busy.id
    finally:
        database.dispose()
    assert client.get(f"/videos/{busy_id}/segments").json()["segments"][0]["text"] == " Hi."
    refused = client.patch(f"/videos/{busy_id}/segments/0", json={"version": 1, "text": "x"})
    assert "COMPLETED" in assert_error(refused, 409, "conflict")["message"]
    replace = client.post(
        f"/videos/{busy_id}/transcript/replace", json={"find": "Hi", "replace": "x"}
    )
    assert_error(replace, 409, "conflict")
    assert edited_events(sqlite_url) == []


def test_find_and_replace_with_a_preview(backend: str, make_client: MakeClient) -> None:
    client = make_client(backend)  # migrates the database
    video_id = diarized_video(backend)
    url = f"/videos/{video_id}/transcript/replace"
    preview = client.post(url, json={"find": "THE", "replace": "a", "preview": True})
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["count"], body["segments"], body["applied"], body["revision"]) == (1, 1, False, 0)
    assert body["changes"] == [
        {
            "index": 0,
            "version": 1,
            "before": " Welcome to the penguin panel.",
            "after": "Welcome to a penguin panel.",
            "count": 1,
        }
    ]
    assert search(backend, "penguin") == [(0, " Welcome to the penguin panel.")]  # unchanged

    # whole words only: "pen" is not in "penguin"; case respected when asked
    assert (
        client.post(url, json={"find": "pen", "replace": "x", "whole_word": True}).json()["count"]
        == 0
    )
    assert (
        client.post(
            url, json={"find": "WELCOME", "replace": "x", "match_case": True, "preview": True}
        ).json()["count"]
        == 0
    )

    applied = client.post(
        url, json={"find": "penguin", "replace": "puffin", "expected_revision": 0}
    ).json()
    assert (applied["count"], applied["applied"], applied["revision"]) == (1, True, 1)
    assert search(backend, "puffin") == [(0, "Welcome to the puffin panel.")]
    assert search(backend, "penguin") == []
    history = client.get(f"/videos/{video_id}/segments/0/history").json()["versions"]
    assert [v["source"] for v in history] == ["asr", "replace"]

    # a preview of revision 0 applied after the transcript moved on: refused, nothing changed
    stale = client.post(url, json={"find": "puffin", "replace": "auk", "expected_revision": 0})
    assert_error(stale, 409, "edit_conflict")
    assert search(backend, "auk") == []
    # a regular expression is text: nothing matches, nothing breaks
    assert client.post(url, json={"find": ".*", "replace": ""}).json()["count"] == 0
    assert_error(client.post(url, json={"find": "   ", "replace": "x"}), 422)
    events = edited_events(backend)
    assert [(e["revision"], e["kind"], e["segments"]) for e in events] == [(1, "replace", [0])]


def test_docx_and_pdf_exports_reflect_edits(
    sqlite_url: str, make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(sqlite_url)  # migrates the database
    video_id = diarized_video(sqlite_url)
    client.patch(f"/videos/{video_id}/speakers/SPEAKER_2", json={"name": "Zoë Ærøskøbing"})
    long_text = "Grüße aus Köln, Привет, Ελληνικά. " + " ".join(["walrus"] * 300)
    edited = client.patch(f"/videos/{video_id}/segments/0", json={"version": 1, "text": long_text})
    assert edited.status_code == 200, edited.text

    got = client.get(
        f"/videos/{video_id}/transcript", params={"format": "docx", "download": "true"}
    )
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="panel.docx"' in got.headers["content-disposition"]
    paragraphs = [p.text for p in docx.Document(io.BytesIO(got.content)).paragraphs]
    assert paragraphs[0] == "panel.mp4"
    assert paragraphs[2].startswith("[0:00] Speaker 1: Grüße aus Köln, Привет, Ελληνικά. walrus")
    assert paragraphs[3] == "[0:04] Zoë Ærøskøbing: Thanks for having me."

    pdf = client.get(f"/videos/{video_id}/transcript", params={"format": "pdf"})
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(pdf.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Grüße aus Köln, Привет, Ελληνικά." in text
    assert "Zoë Ærøskøbing" in text and "Thanks for having me." in text
    assert text.count("walrus") == 300  # long text wraps, nothing is cut
    assert "penguin" not in text


@pytest.mark.parametrize("fmt", ["docx", "pdf"])
def test_documents_of_a_video_without_transcript(
    sqlite_url: str, make_client: MakeClient, fmt: str
) -> None:
    client = make_client(sqlite_url)
    database = Database(sqlite_url)
    try:
        with db_session_context(database.session_factory) as session:
            video = VideoService(session).register(
                media_path=Path("/media/x.mp4"), source_type="path", source_uri="x.mp4"
            )
            video_id = video.id
    finally:
        database.dispose()
    got = client.get(f"/videos/{video_id}/transcript", params={"format": fmt})
    assert VideoStatus.REGISTERED.value in assert_error(got, 404, "not_found")["message"]


def test_versions_are_stored_once_per_version(sqlite_url: str, make_client: MakeClient) -> None:
    client = make_client(sqlite_url)  # migrates the database
    video_id = diarized_video(sqlite_url)
    for version, word in enumerate(["one", "two", "three"], start=1):
        answer = client.patch(
            f"/videos/{video_id}/segments/0", json={"version": version, "text": word}
        )
        assert answer.json()["version"] == version + 1
    database = Database(sqlite_url)
    try:
        with db_session_context(database.session_factory) as session:
            rows = session.scalars(
                select(TranscriptSegmentVersion.version).order_by(TranscriptSegmentVersion.id)
            ).all()
    finally:
        database.dispose()
    assert list(rows) == [1, 2, 3, 4]
    assert [e["revision"] for e in edited_events(sqlite_url)] == [1, 2, 3]


def test_the_text_as_stored_sent_back_is_no_correction(
    sqlite_url: str, make_client: MakeClient
) -> None:
    """Recognised text is stored as the recogniser wrote it (" Welcome ..."); sending it back,
    or it with other spacing, or replacing a word by itself, changes nothing: no version, no
    event, no new summary."""
    client = make_client(sqlite_url)  # migrates the database
    video_id = diarized_video(sqlite_url)
    stored = client.get(f"/videos/{video_id}/segments").json()["segments"][0]
    assert stored["text"] == " Welcome to the penguin panel."
    for text in (stored["text"], "Welcome  to the penguin\npanel. "):
        same = client.patch(f"/videos/{video_id}/segments/0", json={"version": 1, "text": text})
        assert same.status_code == 200, same.text
        body = same.json()
        assert (body["text"], body["version"], body["edited"], body["revision"]) == (
            " Welcome to the penguin panel.",
            1,
            False,
            0,
        )
    itself = client.post(
        f"/videos/{video_id}/transcript/replace", json={"find": "penguin", "replace": "penguin"}
    ).json()
    assert (itself["count"], itself["segments"], itself["applied"], itself["revision"]) == (
        0,
        0,
        False,
        0,
    )
    history = client.get(f"/videos/{video_id}/segments/0/history").json()["versions"]
    assert [v["source"] for v in history] == ["asr"]
    assert edited_events(sqlite_url) == []
