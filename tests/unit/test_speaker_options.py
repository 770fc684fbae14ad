"""--speakers auto|off|N and its bounds: one parser for the setting, CLI, API and payload."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vidigest.common.speakers import (
    DEFAULT_MAX_SPEAKERS,
    SpeakerHints,
    SpeakerOptionError,
    check_bounds,
    parse_speakers,
    speaker_hints,
)
from vidigest.common.types import VideoRegistered
from vidigest.config import Settings


@pytest.mark.parametrize(
    ("given", "stored"),
    [("auto", "auto"), ("AUTO", "auto"), (" off ", "off"), ("2", "2"), ("02", "2"), (32, "32")],
)
def test_parse_speakers(given: str | int, stored: str) -> None:
    assert parse_speakers(given) == stored


@pytest.mark.parametrize("bad", ["", "0", "33", "-1", "two", "2.5", "auto,off"])
def test_parse_speakers_refuses(bad: str) -> None:
    with pytest.raises(SpeakerOptionError, match="auto, off or a count"):
        parse_speakers(bad)


def test_hints() -> None:
    assert speaker_hints("off") == SpeakerHints(enabled=False)
    assert speaker_hints("auto") == SpeakerHints(True, None, 1, DEFAULT_MAX_SPEAKERS)
    assert speaker_hints("auto", 2, None) == SpeakerHints(True, None, 2, DEFAULT_MAX_SPEAKERS)
    assert speaker_hints("auto", 10, None) == SpeakerHints(True, None, 10, 10)
    assert speaker_hints("auto", None, 3) == SpeakerHints(True, None, 1, 3)
    assert speaker_hints("3") == SpeakerHints(True, 3, 1, 3)
    # a count from the setting wins over bounds a request sent with "use the setting"
    assert speaker_hints("3", 1, 2) == SpeakerHints(True, 3, 1, 3)
    assert speaker_hints("off", 1, 2).enabled is False


@pytest.mark.parametrize(
    ("speakers", "low", "high", "message"),
    [
        ("auto", 0, None, "min_speakers must be from 1"),
        ("auto", None, 40, "max_speakers must be from 1"),
        ("auto", 4, 2, "above max_speakers"),
        ("2", 1, None, "hints for speakers=auto"),
        ("off", None, 3, "hints for speakers=auto"),
    ],
)
def test_bounds_refused(speakers: str, low: int | None, high: int | None, message: str) -> None:
    with pytest.raises(SpeakerOptionError, match=message):
        check_bounds(speakers, low, high)


def test_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().speakers == "auto"
    monkeypatch.setenv("VIDIGEST_SPEAKERS", "Off")
    assert Settings().speakers == "off"
    monkeypatch.setenv("VIDIGEST_SPEAKERS", "4")
    assert Settings().speakers == "4"
    monkeypatch.setenv("VIDIGEST_SPEAKERS", "lots")
    with pytest.raises(ValidationError, match="auto, off or a count"):
        Settings()


def test_payloads_old_and_new() -> None:
    old = VideoRegistered.model_validate({"video_id": "v1", "source_path": "/m.mp4"})
    assert (old.speakers, old.min_speakers, old.max_speakers) == (None, None, None)
    new = VideoRegistered.model_validate(
        {"video_id": "v1", "source_path": "/m.mp4", "speakers": "2", "max_speakers": 4}
    )
    assert (new.speakers, new.max_speakers) == ("2", 4)
    for bad in ({"speakers": "many"}, {"min_speakers": 0}, {"max_speakers": 99}):
        with pytest.raises(ValidationError):
            VideoRegistered.model_validate({"video_id": "v1", "source_path": "/m.mp4", **bad})
