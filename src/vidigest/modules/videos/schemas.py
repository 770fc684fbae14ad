"""Request and response bodies of the video routes (Pydantic), and the overall progress a
video shows (each stage's share of the whole job)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vidigest.common.constants import VideoStatus
from vidigest.common.speakers import MAX_SPEAKER_COUNT, check_bounds, parse_speakers
from vidigest.common.types import Task
from vidigest.modules.videos.models import Video

LANGUAGE_PATTERN = r"^(auto|[a-z]{2,3})$"

# Share of the whole job each stage stands for, in the overall progress percentage.
_STAGE_SPAN: dict[str, tuple[float, float]] = {
    VideoStatus.DOWNLOADING: (0.0, 0.0),
    VideoStatus.REGISTERED: (0.0, 0.0),
    VideoStatus.TRANSCRIBING: (0.0, 85.0),
    VideoStatus.TRANSCRIBED: (85.0, 0.0),
    VideoStatus.SUMMARIZING: (85.0, 15.0),
    VideoStatus.COMPLETED: (100.0, 0.0),
}


def overall_progress(status: str, stage_progress: float) -> float:
    start, span = _STAGE_SPAN.get(status, (0.0, 0.0))
    return round(start + span * max(0.0, min(100.0, stage_progress)) / 100.0, 1)


# statuses whose stage reports a percentage as it goes (an ETA can be told from it)
_TIMED = frozenset({VideoStatus.DOWNLOADING, VideoStatus.TRANSCRIBING, VideoStatus.SUMMARIZING})


def eta_seconds(
    status: str, stage_progress: float, started: datetime | None, now: datetime | None = None
) -> float | None:
    """Seconds left in the current stage at the pace so far: elapsed x (100 - p) / p, where p
    is the stage's percent done (for transcription, seconds of audio done / the duration).
    None until there is a pace to go by (1 % done) or when the stage reports no percentage."""
    if status not in _TIMED or started is None or not 1.0 <= stage_progress < 100.0:
        return None
    now = now or datetime.now(UTC)
    elapsed = max(0.0, (now - started).total_seconds())
    return round(elapsed * (100.0 - stage_progress) / stage_progress, 1)


class VideoOut(BaseModel):
    id: str
    filename: str
    status: VideoStatus
    progress: float = Field(description="Overall percent done (0-100)")
    stage_progress: float = Field(description="Percent done of the current stage")
    error: str | None = Field(description="Why processing failed (status FAILED)")
    duration: float | None
    size_bytes: int | None
    source_type: str
    language: str | None = Field(
        description="The transcript's language once transcribed (detected or given); before, "
        "the one asked for (None: detect)"
    )
    model: str | None = Field(
        description="The model that transcribed it once transcribed; before, the preset asked "
        "for (None: the server's default)"
    )
    eta_seconds: float | None = Field(
        description="Seconds left in the current stage at its pace so far (None: not known yet)"
    )
    stage_started_at: datetime | None
    created_at: datetime
    updated_at: datetime
    callback_secret: str | None = Field(
        default=None,
        description="Only in the answer to a registration with callback_url: the whsec_ secret "
        "its webhooks are signed with",
    )

    @classmethod
    def of(cls, video: Video) -> VideoOut:
        return cls(
            id=video.id,
            filename=video.filename,
            status=VideoStatus(video.status),
            progress=overall_progress(video.status, video.progress),
            stage_progress=video.progress,
            error=video.error,
            duration=video.duration,
            size_bytes=video.size_bytes,
            source_type=video.source_type,
            language=video.detected_language or video.language,
            model=video.asr_model or video.model,
            eta_seconds=eta_seconds(video.status, video.progress, video.stage_started_at),
            stage_started_at=video.stage_started_at,
            created_at=video.created_at,
            updated_at=video.updated_at,
        )


class VideoList(BaseModel):
    items: list[VideoOut]
    total: int
    limit: int
    offset: int


class StatusLogEntry(BaseModel):
    at: datetime
    from_status: VideoStatus | None
    to_status: VideoStatus
    reason: str | None


class RegisterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str | None = Field(
        default=None, pattern=LANGUAGE_PATTERN, description="auto or a code such as en"
    )
    model: Literal["fast", "accurate"] | None = Field(default=None, description="ASR preset")
    task: Task | None = Field(
        default=None,
        description="transcribe (in the language spoken; the default) or translate (into "
        "English: multilingual models only, such as accurate)",
    )
    speakers: str | None = Field(
        default=None,
        description="Who said what: auto (find the count), off, or a count from 1 to "
        f"{MAX_SPEAKER_COUNT} [default: VIDIGEST_SPEAKERS]",
    )
    min_speakers: int | None = Field(default=None, ge=1, le=MAX_SPEAKER_COUNT)
    max_speakers: int | None = Field(default=None, ge=1, le=MAX_SPEAKER_COUNT)
    callback_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^[^\x00-\x1f\x7f]*$",  # no control characters
        description="Receives a signed video.completed or video.failed webhook for this video "
        "(the answer holds its secret, `callback_secret`)",
    )

    @model_validator(mode="after")
    def _translation_model(self) -> Self:
        if self.task == "translate" and self.model == "fast":
            raise ValueError("the fast model is English-only: translation needs 'accurate'")
        return self

    @field_validator("speakers")
    @classmethod
    def _speakers(cls, value: str | None) -> str | None:
        return None if value is None else parse_speakers(value)

    @model_validator(mode="after")
    def _speaker_bounds(self) -> Self:
        check_bounds(self.speakers or "auto", self.min_speakers, self.max_speakers)
        return self

    @property
    def language_code(self) -> str | None:
        return None if self.language in (None, "auto") else self.language


class RegisterRequest(RegisterOptions):
    """Register a file already on the server (`path`) or an http(s) URL (`url`); both are off
    unless enabled in the settings."""

    path: str | None = Field(default=None, max_length=4096)
    url: str | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def _one_source(self) -> RegisterRequest:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of 'path' or 'url'")
        return self


UPLOAD_FIELDS = frozenset(RegisterOptions.model_fields)  # the text fields next to "file"
