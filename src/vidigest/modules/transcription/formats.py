"""Transcript exports: JSON (with words), SubRip (.srt), WebVTT (.vtt) and plain text.

A diarized transcript names its speakers: JSON carries the speakers, the turns and a speaker on
every segment and word; SRT cues start "Speaker 1: " (or the name given), VTT cues carry a
voice tag (<v Speaker 1>), text lines start with the name where the speaker changes. A
transcript without speakers comes out exactly as it did before speakers existed."""

from __future__ import annotations

import json
from typing import Any, Literal, get_args

from vidigest.common.types import Transcript
from vidigest.modules.speakers.naming import display_name, shown_names, transcript_names

Format = Literal["json", "srt", "vtt", "txt"]
FORMATS: tuple[str, ...] = get_args(Format)
# and the documents made from the same transcript (`documents.py`): binary, for people to read
ExportFormat = Literal["json", "srt", "vtt", "txt", "docx", "pdf"]


def _seconds(value: float) -> float:
    return round(value, 3)


def diarized(t: Transcript) -> bool:
    return bool(t.speakers) or any(s.speaker is not None for s in t.segments)


def to_json(t: Transcript) -> dict[str, Any]:
    """A plain dict (JSON-serialisable): language, duration, model, text and the segments with
    their words (and, when diarized, the speakers and turns). Times in seconds, rounded to the
    millisecond."""
    plain = _plain_json(t)
    if not diarized(t):
        return plain
    names = transcript_names(t)
    plain["speakers"] = [
        {
            "label": s.label,
            "name": s.name,
            "display_name": names[s.label],
            "talk_time": _seconds(s.talk_time),
        }
        for s in t.speakers
    ]
    plain["turns"] = [
        {"start": _seconds(turn.start), "end": _seconds(turn.end), "speaker": turn.speaker}
        for turn in t.turns
    ]
    for out, segment in zip(plain["segments"], t.segments, strict=True):
        out["speaker"] = segment.speaker
        out["speaker_name"] = display_name(segment.speaker, names)
        for word_out, word in zip(out["words"], segment.words, strict=True):
            word_out["speaker"] = word.speaker
    return plain


def _plain_json(t: Transcript) -> dict[str, Any]:
    return {
        "language": t.language,
        "language_probability": t.language_probability,
        "duration": _seconds(t.duration),
        "model": t.model,
        "text": t.text,
        "segments": [
            {
                "index": s.index,
                "start": _seconds(s.start),
                "end": _seconds(s.end),
                "text": s.text,
                "words": [
                    {
                        "start": _seconds(w.start),
                        "end": _seconds(w.end),
                        "text": w.text,
                        "probability": round(w.probability, 4),
                    }
                    for w in s.words
                ],
            }
            for s in t.segments
        ],
    }


def _timestamp(seconds: float, separator: str) -> str:
    """HH:MM:SS<separator>mmm (hours grow past 99 if they must)."""
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def srt_timestamp(seconds: float) -> str:
    """00:00:01,234"""
    return _timestamp(seconds, ",")


def vtt_timestamp(seconds: float) -> str:
    """00:00:01.234"""
    return _timestamp(seconds, ".")


def _cue_text(text: str) -> str:
    # one line per cue; "-->" would read as a timing line and a blank line would end the cue
    text = " ".join(text.split())
    while "-->" in text:  # "--->" becomes "-->" after one pass
        text = text.replace("-->", "->")
    return text


def _cues(t: Transcript) -> list[tuple[float, float, str, str | None]]:
    """(start, end, text, speaker's display name or None) of each segment with text."""
    names = shown_names(t)
    cues = []
    for s in t.segments:
        text = _cue_text(s.text)
        if text:
            speaker = display_name(s.speaker, names) if names else None
            cues.append((s.start, max(s.end, s.start), text, speaker and _cue_text(speaker)))
    return cues


def to_srt(t: Transcript) -> str:
    blocks = [
        f"{n}\n{srt_timestamp(start)} --> {srt_timestamp(end)}\n"
        f"{f'{speaker}: ' if speaker else ''}{text}\n"
        for n, (start, end, text, speaker) in enumerate(_cues(t), start=1)
    ]
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _voice(speaker: str | None) -> str:
    """The cue's voice tag: <v Name> (the name escaped like cue text)."""
    return f"<v {_vtt_escape(speaker)}>" if speaker else ""


def to_vtt(t: Transcript) -> str:
    blocks = ["WEBVTT\n"]
    blocks += [
        f"{n}\n{vtt_timestamp(start)} --> {vtt_timestamp(end)}\n"
        f"{_voice(speaker)}{_vtt_escape(text)}\n"
        for n, (start, end, text, speaker) in enumerate(_cues(t), start=1)
    ]
    return "\n".join(blocks)


def to_txt(t: Transcript) -> str:
    """One segment per line; when diarized, a line starts with "Name: " where the speaker
    changes."""
    names = shown_names(t)
    lines = []
    previous: str | None = None
    for s in t.segments:
        line = " ".join(s.text.split())
        if not line:
            continue
        speaker = display_name(s.speaker, names) if names else None
        if speaker is not None and s.speaker != previous:
            line = f"{' '.join(speaker.split())}: {line}"
        previous = s.speaker
        lines.append(line)
    return "".join(f"{line}\n" for line in lines)


def render(t: Transcript, fmt: Format) -> str:
    """The transcript as text in `fmt` ("json", "srt", "vtt" or "txt")."""
    if fmt == "json":
        return json.dumps(to_json(t), ensure_ascii=False, indent=2) + "\n"
    if fmt == "srt":
        return to_srt(t)
    if fmt == "vtt":
        return to_vtt(t)
    if fmt == "txt":
        return to_txt(t)
    raise ValueError(f"unknown transcript format {fmt!r}: choose one of {', '.join(FORMATS)}")
