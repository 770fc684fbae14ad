"""summary.json and summary.md."""

from __future__ import annotations

from typing import Any

from vidigest.common.types import Summary
from vidigest.modules.speakers.naming import worth_naming


def clock(seconds: float) -> str:
    """00:00 style, with hours only when needed (the form YouTube chapter lines use)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def to_json(summary: Summary) -> dict[str, Any]:
    """The summary as a dict; a key point's speaker and a chapter's speakers only when the
    transcript was diarized (otherwise the document is what it was before speakers)."""
    data = summary.model_dump(mode="json")
    for point in data["key_points"]:
        if point.get("speaker") is None:
            point.pop("speaker", None)
    for chapter in data["chapters"]:
        if not chapter.get("speakers"):
            chapter.pop("speakers", None)
    return data


def youtube_chapter_lines(summary: Summary) -> list[str]:
    """`00:00 Title` lines: the first at 00:00, each chapter at least 10 s long."""
    lines: list[str] = []
    last_start: float | None = None
    for chapter in summary.chapters:
        start = 0.0 if last_start is None else chapter.start
        if last_start is not None and start - last_start < 10:
            continue  # too short for YouTube: it stays part of the previous chapter
        lines.append(f"{clock(start)} {chapter.title}")
        last_start = start
    return lines


def to_markdown(summary: Summary, title: str) -> str:
    out = [f"# {title}", ""]
    if not summary.abstract:
        reason = summary.metadata.get("reason", "nothing to summarize")
        return "\n".join([*out, f"_{reason}_", ""])
    out += ["## Abstract", "", summary.abstract, "", "## Key points", ""]
    shown = [k.speaker for k in summary.key_points if k.speaker]
    shown += [name for c in summary.chapters for name in c.speakers]
    named = worth_naming(shown)
    out += [
        f"- [{clock(k.start)}] {f'{k.speaker}: ' if named and k.speaker else ''}{k.text}"
        for k in summary.key_points
    ]
    out += ["", "## Chapters", "", "```", *youtube_chapter_lines(summary), "```", ""]
    for chapter in summary.chapters:
        out += [f"### {clock(chapter.start)}-{clock(chapter.end)} {chapter.title}", ""]
        if named and chapter.speakers:
            out += [f"_Speakers: {', '.join(chapter.speakers)}_", ""]
        out += [chapter.summary, ""]
    out += ["## Keywords", "", ", ".join(summary.keywords), ""]
    return "\n".join(out)
