"""Names people read: "Speaker 1" for the label SPEAKER_1 unless the user (or a voice profile)
gave it a name; and who talks in a stretch of a transcript, for key points and chapters."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from vidigest.common.types import Segment, Speaker, Transcript

_LABEL = re.compile(r"^SPEAKER_(\d+)$")
_DEFAULT = re.compile(r"^Speaker \d+$")
MAX_NAME_LENGTH = 64


def default_name(label: str) -> str:
    """SPEAKER_1 -> "Speaker 1"; any other label as it is."""
    match = _LABEL.match(label)
    return f"Speaker {int(match.group(1))}" if match else label


def display_names(speakers: Iterable[Speaker]) -> dict[str, str]:
    """label -> the name shown: the given name, else "Speaker N"."""
    return {s.label: s.name or default_name(s.label) for s in speakers}


def display_name(label: str | None, names: Mapping[str, str]) -> str | None:
    if label is None:
        return None
    return names.get(label) or default_name(label)


def check_name(name: str) -> str:
    """A speaker or voice name as stored: trimmed, 1 to 64 characters, no control characters
    (they would break subtitle lines and terminals). ValueError with the reason otherwise."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise ValueError(f"a name must be 1 to {MAX_NAME_LENGTH} characters (not blank)")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029" for c in name):
        raise ValueError("a name must not contain control characters or line breaks")
    return name


def labels_between(segments: Sequence[Segment], start: float, end: float) -> tuple[str, ...]:
    """Labels of who talks in [start, end], most talk time (within it) first."""
    seconds: dict[str, float] = {}
    for s in segments:
        if s.speaker is None:
            continue
        overlap = min(end, s.end) - max(start, s.start)
        if overlap > 0 or (s.start == s.end and start <= s.start <= end):
            seconds[s.speaker] = seconds.get(s.speaker, 0.0) + max(overlap, 0.0)
    return tuple(sorted(seconds, key=lambda label: -seconds[label]))  # stable: first seen wins


def speakers_between(
    segments: Sequence[Segment], start: float, end: float, names: Mapping[str, str]
) -> tuple[str, ...]:
    """Display names of who talks in [start, end], most talk time (within it) first."""
    labels = labels_between(segments, start, end)
    return tuple(dict.fromkeys(display_name(label, names) or label for label in labels))


def main_speaker(
    segments: Sequence[Segment], start: float, end: float, names: Mapping[str, str]
) -> str | None:
    """Display name of who talks most in [start, end] (None: nobody diarized there)."""
    found = speakers_between(segments, start, end, names)
    return found[0] if found else None


def worth_naming(shown: Iterable[str]) -> bool:
    """Whether text for people (subtitles, TXT, summary.md, the console) should name the
    speakers it shows: two or more, or one with a given name. A lone "Speaker 1" on every line
    says nothing (JSON and the API carry the labels regardless)."""
    names = set(shown)
    return len(names) >= 2 or any(not _DEFAULT.match(n) for n in names)


def transcript_names(transcript: Transcript) -> dict[str, str]:
    """label -> display name for every speaker of the transcript (its segments' labels too)."""
    names = display_names(transcript.speakers)
    for s in transcript.segments:
        if s.speaker is not None and s.speaker not in names:
            names[s.speaker] = default_name(s.speaker)
    return names


def shown_names(transcript: Transcript) -> dict[str, str]:
    """`transcript_names`, or {} when they are not worth naming in text for people."""
    names = transcript_names(transcript)
    spoken = {names[s.speaker] for s in transcript.segments if s.speaker is not None}
    return names if worth_naming(spoken) else {}
