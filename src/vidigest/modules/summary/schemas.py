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
