"""The published event contracts: one JSON Schema per event type and webhook payload, the
committed files in docs/events/ current with the pydantic types, and the schemas strict
enough to catch what would break a consumer."""

from __future__ import annotations

import json
import uuid

import pytest
from jsonschema import Draft202012Validator, ValidationError

from tests.support.contracts import EVENTS_DIR, check_event, check_webhook
from vidigest.common.constants import EventType, WebhookEventType
from vidigest.common.contracts import all_schemas
from vidigest.common.types import (
    EVENT_PAYLOADS,
    WEBHOOK_PAYLOADS,
    Event,
    SummaryCompleted,
    VideoProgress,
    VideoRegistered,
    WebhookMessage,
    WebhookVideoFailed,
)


def test_committed_schemas_are_current() -> None:
    """Changed a payload type? Run `vidigest schemas docs/events` and commit the files (a new
    version for an incompatible change: docs/events.md)."""
    expected = all_schemas()
    committed = {p.name: p.read_text(encoding="utf-8") for p in EVENTS_DIR.glob("*.json")}
    for name, text in expected.items():
        assert committed.get(name) == text, f"docs/events/{name} is missing or out of date"
    # what else is there: earlier versions of these contracts only (kept for old consumers)
    current = {n.rsplit(".v", 1)[0]: int(n.rsplit(".v", 1)[1].split(".")[0]) for n in expected}
    for name in set(committed) - set(expected):
        base, version = name.rsplit(".v", 1)
        assert base in current and int(version.split(".")[0]) < current[base], (
            f"docs/events/{name} is no contract vidigest publishes"
        )


def test_every_event_and_webhook_has_a_valid_schema() -> None:
    assert set(EVENT_PAYLOADS) == set(EventType)
    assert set(WEBHOOK_PAYLOADS) == set(WebhookEventType)
    for name, text in all_schemas().items():
        Draft202012Validator.check_schema(json.loads(text))
        assert ".v" in name


def envelope(event_type: EventType, payload: dict[str, object]) -> dict[str, object]:
    return Event(event_type=event_type, aggregate_id="v-1", payload=payload).model_dump(mode="json")


def test_events_as_emitted_validate_and_breaking_changes_do_not() -> None:
    registered = VideoRegistered(video_id="v-1", source_path="/m/a.mp4")
    good = envelope(EventType.VIDEO_REGISTERED, registered.model_dump(exclude_none=True))
    check_event(good)
    # an added field is compatible: the schemas allow properties they do not name
    check_event({**good, "trace_id": "abc"})
    broken: list[dict[str, object]] = [
        {k: v for k, v in good.items() if k != "occurred_at"},  # envelope field removed
        {**good, "payload": {"video_id": "v-1"}},  # required payload field removed
        {**good, "payload": {"video_id": "v-1", "source_path": "/a", "audio_track": "one"}},
        {**good, "event_id": "not-a-uuid"},
        {**good, "payload": {"videoId": "v-1", "source_path": "/a"}},  # a rename
    ]
    for message in broken:
        with pytest.raises(ValidationError):
            check_event(message)
    summary = envelope(
        EventType.SUMMARY_COMPLETED, SummaryCompleted(video_id="v", summary_id="s").model_dump()
    )
    check_event(summary)
    with pytest.raises(ValidationError):  # the payload of another event type
        check_event({**summary, "payload": registered.model_dump()})


def test_webhook_bodies_validate() -> None:
    failed = WebhookMessage(
        type=WebhookEventType.VIDEO_FAILED,
        timestamp=Event(event_type=EventType.VIDEO_FAILED, aggregate_id="v").occurred_at,
        data=WebhookVideoFailed(video_id="v", status="FAILED", stage="summary", reason="x"),
    )
    body = json.loads(failed.model_dump_json())
    check_webhook(body)
    with pytest.raises(ValidationError):
        check_webhook({**body, "data": {"video_id": "v"}})
    progress = {
        "type": "video.progress",
        "timestamp": body["timestamp"],
        "data": VideoProgress(video_id="v", stage="transcription", percent=40).model_dump(
            mode="json", exclude_none=True
        ),
    }
    check_webhook(progress)
    with pytest.raises(ValidationError):
        check_webhook({**progress, "data": {**progress["data"], "percent": 140}})
    assert uuid.UUID(str(envelope(EventType.VIDEO_FAILED, {})["event_id"]))
