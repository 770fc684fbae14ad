"""How many speakers to look for: "auto" (diarization finds the count), "off" (no diarization,
no cost), or a count. One parser for the setting (VIDIGEST_SPEAKERS), the CLI (--speakers,
--min-speakers, --max-speakers), the API's registration field and the event payload."""

from __future__ import annotations

from dataclasses import dataclass

from vidigest.common.exceptions import VidigestError

SPEAKERS_PATTERN = r"^(auto|off|[1-9][0-9]?)$"
MAX_SPEAKER_COUNT = 32  # a hint or a count beyond this is refused
DEFAULT_MAX_SPEAKERS = 8  # what "auto" looks for at most (the diarizer's default)


class SpeakerOptionError(VidigestError, ValueError):
    """A speaker choice that cannot be met (a ValueError too: Pydantic validators report it)."""

    permanent = True


def parse_speakers(value: str | int) -> str:
    """ "auto", "off" or a count from 1 to MAX_SPEAKER_COUNT, as stored ("auto", "off", "3");
    SpeakerOptionError saying what is allowed otherwise."""
    text = str(value).strip().lower()
    if text in ("auto", "off"):
        return text
    if text.isdigit() and 1 <= int(text) <= MAX_SPEAKER_COUNT:
        return str(int(text))
    raise SpeakerOptionError(
        f"speakers must be auto, off or a count from 1 to {MAX_SPEAKER_COUNT} (not {value!r})"
    )


@dataclass(frozen=True)
class SpeakerHints:
    """What the diarizer is asked: nothing (`enabled` False), an exact count, or bounds."""

    enabled: bool
    num_speakers: int | None = None
    min_speakers: int = 1
    max_speakers: int = DEFAULT_MAX_SPEAKERS


OFF = SpeakerHints(enabled=False)


def check_bounds(speakers: str, min_speakers: int | None, max_speakers: int | None) -> None:
    """SpeakerOptionError for bounds that cannot be met or mean nothing: outside
    1..MAX_SPEAKER_COUNT, min above max, or bounds next to a count or "off"."""
    for name, bound in (("min_speakers", min_speakers), ("max_speakers", max_speakers)):
        if bound is not None and not 1 <= bound <= MAX_SPEAKER_COUNT:
            raise SpeakerOptionError(f"{name} must be from 1 to {MAX_SPEAKER_COUNT} (not {bound})")
    if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
        raise SpeakerOptionError(
            f"min_speakers ({min_speakers}) is above max_speakers ({max_speakers})"
        )
    if (min_speakers is not None or max_speakers is not None) and speakers != "auto":
        raise SpeakerOptionError(
            f"min/max speakers are hints for speakers=auto, not for {speakers}"
        )


def speaker_hints(
    speakers: str, min_speakers: int | None = None, max_speakers: int | None = None
) -> SpeakerHints:
    """The hints for a choice already checked (`parse_speakers`); bounds that came with a
    count or "off" (a setting overridden by a request) are ignored."""
    mode = parse_speakers(speakers)
    if mode == "off":
        return OFF
    if mode != "auto":
        count = int(mode)
        return SpeakerHints(enabled=True, num_speakers=count, min_speakers=1, max_speakers=count)
    low = min_speakers or 1
    high = max_speakers or max(DEFAULT_MAX_SPEAKERS, low)
    return SpeakerHints(enabled=True, min_speakers=low, max_speakers=max(low, high))
