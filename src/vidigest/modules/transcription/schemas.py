"""Request and response bodies of transcript corrections (Pydantic)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from vidigest.modules.speakers.schemas import LABEL_PATTERN
from vidigest.modules.transcription.editing import (
    MAX_FIND,
    MAX_REPLACEMENT,
    MAX_SEGMENT_TEXT,
    Change,
    ReplaceResult,
    SegmentVersionView,
    SegmentView,
)


class SegmentOut(BaseModel):
    index: int
    start: float
    end: float
    text: str
    speaker: str | None = None  # a label such as "SPEAKER_1"; null: not diarized
    version: int  # 1: as recognised; send it back with an edit
    edited: bool

    @classmethod
    def of(cls, view: SegmentView) -> SegmentOut:
        return cls(
            index=view.index,
            start=view.start,
            end=view.end,
            text=view.text,
            speaker=view.speaker,
            version=view.version,
            edited=view.edited,
        )


class SegmentList(BaseModel):
    video_id: str
    revision: int  # corrections made to the transcript (0: as recognised)
    segments: list[SegmentOut]


class EditedSegment(SegmentOut):
    revision: int  # the transcript's revision after the edit


class SegmentEdit(BaseModel):
    """A correction of one segment, made on `version` (a stale version answers 409)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="The segment's version the edit was made on")
    text: str | None = Field(
        default=None, max_length=MAX_SEGMENT_TEXT, description="New text; null: unchanged"
    )
    speaker: str | None = Field(
        default=None,
        max_length=32,
        pattern=LABEL_PATTERN,
        description='A speaker label of this transcript ("SPEAKER_2"); null: unchanged',
    )


class SegmentVersionOut(BaseModel):
    version: int
    text: str
    speaker: str | None = None
    source: str  # "asr" (as recognised), "edit" or "replace"
    created_at: datetime | None = None  # null: never corrected, as recognised

    @classmethod
    def of(cls, view: SegmentVersionView) -> SegmentVersionOut:
        return cls(
            version=view.version,
            text=view.text,
            speaker=view.speaker,
            source=view.source,
            created_at=view.created_at,
        )


class SegmentHistory(BaseModel):
    video_id: str
    index: int
    versions: list[SegmentVersionOut]  # oldest first; the last is the current text


class ReplaceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    find: str = Field(min_length=1, max_length=MAX_FIND, description="Literal text to find")
    replace: str = Field(max_length=MAX_REPLACEMENT, description="What replaces it")
    match_case: bool = False
    whole_word: bool = False
    preview: bool = Field(default=False, description="Count and list the changes, store none")
    expected_revision: int | None = Field(
        default=None,
        ge=0,
        description="The revision a preview answered: refused (409) if corrected since",
    )


class ChangeOut(BaseModel):
    index: int
    version: int
    before: str
    after: str
    count: int

    @classmethod
    def of(cls, change: Change) -> ChangeOut:
        return cls(
            index=change.index,
            version=change.version,
            before=change.before,
            after=change.after,
            count=change.count,
        )


class ReplaceOut(BaseModel):
    video_id: str
    count: int  # occurrences found
    segments: int  # segments that change
    applied: bool  # false: a preview, or nothing found
    revision: int
    changes: list[ChangeOut]  # the first 500

    @classmethod
    def of(cls, video_id: str, result: ReplaceResult) -> ReplaceOut:
        return cls(
            video_id=video_id,
            count=result.count,
            segments=result.segments,
            applied=result.applied,
            revision=result.revision,
            changes=[ChangeOut.of(c) for c in result.changes],
        )
