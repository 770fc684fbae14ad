"""Transcript exports: JSON (with words), SubRip (.srt), WebVTT (.vtt) and plain text."""

from __future__ import annotations

import json
from typing import Any, Literal, get_args

from vidigest.common.types import Transcript

Format = Literal["json", "srt", "vtt", "txt"]
FORMATS: tuple[str, ...] = get_args(Format)


def _seconds(value: float) -> float:
    return round(value, 3)


def to_json(t: Transcript) -> dict[str, Any]:
    """A plain dict (JSON-serialisable): language, duration, model, text and the segments with
    their words. Times in seconds, rounded to the millisecond."""
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


def _cues(t: Transcript) -> list[tuple[float, float, str]]:
    cues = []
    for s in t.segments:
        text = _cue_text(s.text)
        if text:
            cues.append((s.start, max(s.end, s.start), text))
    return cues


def to_srt(t: Transcript) -> str:
    blocks = [
        f"{n}\n{srt_timestamp(start)} --> {srt_timestamp(end)}\n{text}\n"
        for n, (start, end, text) in enumerate(_cues(t), start=1)
    ]
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(t: Transcript) -> str:
    blocks = ["WEBVTT\n"]
    blocks += [
        f"{n}\n{vtt_timestamp(start)} --> {vtt_timestamp(end)}\n{_vtt_escape(text)}\n"
        for n, (start, end, text) in enumerate(_cues(t), start=1)
    ]
    return "\n".join(blocks)


def to_txt(t: Transcript) -> str:
    """One segment per line."""
    lines = [" ".join(s.text.split()) for s in t.segments]
    return "".join(f"{line}\n" for line in lines if line)


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
