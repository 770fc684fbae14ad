"""Typed payloads shared across modules: transcripts, summaries, events, progress."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from vidigest.common.constants import EventType, WebhookEventType
from vidigest.common.speakers import MAX_SPEAKER_COUNT, SPEAKERS_PATTERN

# Ids that travel in events: bounded and plain, so a malformed message fails validation
# instead of reaching the database (PostgreSQL text cannot even hold a NUL byte).
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\w.:-]+$")]
# A path without NUL bytes (the OS rejects those) and of sane length.
MediaPath = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]
# What Whisper does with the speech: write it down in its language, or translate it to English.
Task = Literal["transcribe", "translate"]
TASKS: tuple[Task, ...] = ("transcribe", "translate")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- transcripts -------------------------------------------------------------------------------


class Word(_Frozen):
    start: float
    end: float
    text: str
    probability: float
    speaker: str | None = None  # a label such as "SPEAKER_1"; None: not diarized


class Segment(_Frozen):
    index: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None


class SpeakerTurn(_Frozen):
    start: float
    end: float
    speaker: str  # "SPEAKER_1", "SPEAKER_2", ... numbered by first appearance


class Speaker(_Frozen):
    label: str  # "SPEAKER_1"
    name: str | None = None  # a user-given or voice-profile name
    talk_time: float = 0.0  # seconds


class Transcript(_Frozen):
    language: str
    language_probability: float | None = None
    duration: float
    model: str
    segments: tuple[Segment, ...]
    speakers: tuple[Speaker, ...] = ()
    turns: tuple[SpeakerTurn, ...] = ()

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


# --- summaries ---------------------------------------------------------------------------------


class KeyPoint(_Frozen):
    text: str
    start: float
    end: float
    speaker: str | None = None  # display name of who said it; None: not diarized


class Chapter(_Frozen):
    start: float
    end: float
    title: str
    summary: str
    speakers: tuple[str, ...] = ()  # display names of who talks in it, most talk time first


class Summary(_Frozen):
    abstract: str
    key_points: tuple[KeyPoint, ...]
    chapters: tuple[Chapter, ...]
    keywords: tuple[str, ...]
    method: str
    metadata: dict[str, Any] = Field(default_factory=dict)


# --- events ------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


class Event(_Frozen):
    """The envelope every message carries. `event_id` is the idempotency key downstream."""

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_type: EventType
    aggregate_id: Identifier
    occurred_at: datetime = Field(default_factory=_now)
    payload: dict[str, Any] = Field(default_factory=dict)


class VideoRegistered(_Frozen):
    video_id: Identifier
    source_path: MediaPath
    language: str | None = None
    model: str | None = None
    audio_track: int = Field(default=0, ge=0)  # audio stream to transcribe (0: the first)
    # speakers to find: "auto", "off" or a count; None: the worker's VIDIGEST_SPEAKERS. Left out
    # of the message when None, so workers of an older version still read it.
    speakers: str | None = Field(default=None, pattern=SPEAKERS_PATTERN)
    min_speakers: int | None = Field(default=None, ge=1, le=MAX_SPEAKER_COUNT)
    max_speakers: int | None = Field(default=None, ge=1, le=MAX_SPEAKER_COUNT)
    # the Whisper task; None: transcribe. Left out of the message when None (as the speakers).
    task: Task | None = None


class TranscriptionCompleted(_Frozen):
    video_id: Identifier
    transcript_id: Identifier
    segment_count: int
    language: str


class TranscriptEdited(_Frozen):
    """A completed transcript was corrected. `revision` counts the edits of the transcript
    (1 after the first); a consumer that finds the stored revision newer than the event's may
    skip it: a later event follows for that one. `segments` are the positions changed."""

    video_id: Identifier
    transcript_id: Identifier
    revision: int = Field(ge=1)
    segments: tuple[int, ...] = Field(default=(), max_length=100_000)
    kind: str = Field(pattern=r"^(edit|replace)$")  # one segment edited, or find and replace


class SummaryCompleted(_Frozen):
    video_id: Identifier
    summary_id: Identifier


class VideoFailed(_Frozen):
    video_id: Identifier
    stage: str
    reason: str


class VideoProgress(_Frozen):
    """How far a video's current stage is: sent at most every few seconds per video."""

    video_id: Identifier
    stage: str  # "transcription" or "summary"
    percent: float = Field(ge=0, le=100)
    # seconds of audio transcribed so far, of the total (transcription only)
    processed_audio_seconds: float | None = Field(default=None, ge=0)
    total_audio_seconds: float | None = Field(default=None, ge=0)
    eta_seconds: float | None = Field(default=None, ge=0)  # None: not known yet


# The payload type of every event type: what travels in `Event.payload` (and its JSON Schema,
# `vidigest schemas write`).
EVENT_PAYLOADS: dict[EventType, type[BaseModel]] = {
    EventType.VIDEO_REGISTERED: VideoRegistered,
    EventType.TRANSCRIPTION_COMPLETED: TranscriptionCompleted,
    EventType.SUMMARY_COMPLETED: SummaryCompleted,
    EventType.VIDEO_FAILED: VideoFailed,
    EventType.VIDEO_PROGRESS: VideoProgress,
    EventType.TRANSCRIPT_EDITED: TranscriptEdited,
}


# --- webhooks ----------------------------------------------------------------------------------


class WebhookVideoCompleted(_Frozen):
    video_id: Identifier
    status: str  # "COMPLETED"
    filename: str
    duration: float | None = None  # seconds of media
    language: str | None = None  # the transcript's language
    transcript_id: Identifier | None = None
    summary_id: Identifier


class WebhookVideoFailed(_Frozen):
    video_id: Identifier
    status: str  # "FAILED"
    filename: str | None = None
    stage: str
    reason: str  # readable: never SQL, tracebacks or server paths


class WebhookMessage(_Frozen):
    """What a webhook receiver gets (the Standard Webhooks payload shape): `type`, when it
    happened, and the event's data. Signed: `webhook-id`, `webhook-timestamp`,
    `webhook-signature` headers."""

    type: WebhookEventType
    timestamp: datetime
    data: WebhookVideoCompleted | WebhookVideoFailed | VideoProgress


WEBHOOK_PAYLOADS: dict[WebhookEventType, type[BaseModel]] = {
    WebhookEventType.VIDEO_COMPLETED: WebhookVideoCompleted,
    WebhookEventType.VIDEO_FAILED: WebhookVideoFailed,
    WebhookEventType.VIDEO_PROGRESS: VideoProgress,
}


# --- progress ----------------------------------------------------------------------------------


class ProgressReporter(Protocol):
    """Receives progress of a long phase of work (decode, transcribe, summarize).

    `total` and `completed` are in the phase's own unit (seconds of audio, steps).
    """

    def start(self, phase: str, total: float) -> None: ...

    def update(self, phase: str, completed: float) -> None: ...

    def finish(self, phase: str) -> None: ...


# (video id, phase of the work: "transcribe", "summarize") -> the reporter of its progress
ProgressFactory = Callable[[str, str], ProgressReporter]


class NullProgress:
    def start(self, phase: str, total: float) -> None:
        pass

    def update(self, phase: str, completed: float) -> None:
        pass

    def finish(self, phase: str) -> None:
        pass
