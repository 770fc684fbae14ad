"""A processed video, read back: files on disk (process --out) and a description (videos show).

Above the features: it composes the videos, transcripts and summaries into one output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidigest.common.constants import VideoStatus
from vidigest.common.exceptions import NotFoundError
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.modules.summary import formats as summary_formats
from vidigest.modules.summary.service import VideoSummaryService
from vidigest.modules.transcription.formats import render
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.service import VideoService, VideoStatusLogService

TRANSCRIPT_FILES = {
    "json": "transcript.json",
    "srt": "transcript.srt",
    "vtt": "transcript.vtt",
    "txt": "transcript.txt",
}


@dataclass
class ExportResult:
    status: VideoStatus
    error: str | None
    files: list[Path] = field(default_factory=list)
    summary_markdown: str = ""


def write_outputs(session_factory: SessionFactory, video_id: str, out_dir: Path) -> ExportResult:
    """Write transcript.{json,srt,vtt,txt} and summary.{json,md}; only for a COMPLETED video,
    so a failed run leaves no half-written output behind."""
    with db_session_context(session_factory) as session:
        video = VideoService(session).get(video_id)
        result = ExportResult(VideoStatus(video.status), video.error)
        if result.status is not VideoStatus.COMPLETED:
            return result
        transcript = TranscriptService(session).load(video_id)
        summary = VideoSummaryService(session).load(video_id)
        title = video.filename
    out_dir.mkdir(parents=True, exist_ok=True)
    contents: dict[str, str] = {
        name: render(transcript, fmt)  # type: ignore[arg-type]
        for fmt, name in TRANSCRIPT_FILES.items()
    }
    result.summary_markdown = summary_formats.to_markdown(summary, title)
    contents["summary.json"] = json.dumps(summary_formats.to_json(summary), indent=2) + "\n"
    contents["summary.md"] = result.summary_markdown
    for name, text in contents.items():
        path = out_dir / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        result.files.append(path)
    return result


def describe_video(session_factory: SessionFactory, video_id: str) -> dict[str, Any]:
    with db_session_context(session_factory) as session:
        video = VideoService(session).get(video_id)
        history = VideoStatusLogService(session).history(video_id)
        description: dict[str, Any] = {
            "id": video.id,
            "filename": video.filename,
            "source": video.source_uri,
            "status": video.status,
            "progress": video.progress,
            "error": video.error,
            "duration": video.duration,
            "created_at": video.created_at.isoformat(),
            "history": [
                {
                    "at": h.created_at.isoformat(timespec="seconds"),
                    "from": h.from_status,
                    "to": h.to_status,
                    "reason": h.reason,
                }
                for h in history
            ],
        }
        try:
            summary = VideoSummaryService(session).load(video_id)
            description["summary"] = summary_formats.to_markdown(summary, video.filename)
        except NotFoundError:
            description["summary"] = None
    return description
