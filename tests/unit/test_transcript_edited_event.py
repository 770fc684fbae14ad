"""The `transcript.edited` event: its topic, the stage that consumes it beside its main event,
and its payload checked before any work."""

from __future__ import annotations

import pytest

from vidigest.common.constants import EventType
from vidigest.common.exceptions import MalformedMessageError
from vidigest.common.stages import STAGES, SUMMARY, TRANSCRIPTION
from vidigest.common.types import Event
from vidigest.modules.summary.step import SummaryStep, is_edit


def test_the_summary_stage_consumes_both_of_its_events_each_on_its_topic() -> None:
    assert SUMMARY.events == (EventType.TRANSCRIPTION_COMPLETED, EventType.TRANSCRIPT_EDITED)
    assert SUMMARY.topics == ("transcription.completed", "transcript.edited")
    assert SUMMARY.topic == "transcription.completed"  # its main one, as before
    assert TRANSCRIPTION.topics == ("video.registered",)
    # several stages may consume one event (each in its own group); never one stage twice
    for stage in STAGES.values():
        assert len(stage.events) == len(set(stage.events))
    consumers = [stage.consumer for stage in STAGES.values()]
    assert len(consumers) == len(set(consumers)), "one consumer name per stage"


def edited(payload: dict[str, object]) -> Event:
    return Event(event_type=EventType.TRANSCRIPT_EDITED, aggregate_id="v-1", payload=payload)


def test_an_edited_payload_is_checked() -> None:
    step = SummaryStep.__new__(SummaryStep)  # video_id needs none of its parts
    good = {"video_id": "v-1", "transcript_id": "t-1", "revision": 2, "segments": [0, 4]}
    assert step.video_id(edited({**good, "kind": "edit"})) == "v-1"
    assert is_edit(edited({**good, "kind": "replace"}))
    for bad in (
        {**good, "kind": "rewrite"},
        {**good, "kind": "edit", "revision": 0},
        {**good, "kind": "edit", "video_id": "a b"},
        {"video_id": "v-1", "kind": "edit"},
    ):
        with pytest.raises(MalformedMessageError, match=r"invalid transcript\.edited payload"):
            step.video_id(edited(bad))
