"""Response bodies of the summary route (Pydantic)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from vidigest.common.types import Chapter, KeyPoint


class SummaryOut(BaseModel):
    video_id: str
    abstract: str
    key_points: list[KeyPoint]
    chapters: list[Chapter]
    keywords: list[str]
    method: str
    details: dict[str, Any]
    # the transcript revision it was made from (0: as recognised); behind `transcript_revision`
    # while the summary of a corrected transcript is being made again (`up_to_date` false)
    summary_revision: int = 0
    transcript_revision: int = 0
    up_to_date: bool = True
