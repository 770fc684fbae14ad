"""Request options and response bodies of the OpenAI-compatible audio API, as OpenAI's own
reference and typed SDKs define them (`Transcription`, `TranscriptionVerbose`, `Model`)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vidigest.common.types import Task

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]
Granularity = Literal["word", "segment"]

GRANULARITIES_FIELD = "timestamp_granularities[]"  # a repeated form field, brackets included
FORM_FIELDS = frozenset({"model", "language", "prompt", "response_format", "temperature", "stream"})
MAX_PROMPT_CHARS = 4096


class AudioOptions(BaseModel):
    """The form fields beside `file` (all text, as multipart sends them)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=256)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")
    prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    response_format: ResponseFormat = "json"
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    stream: bool = False
    timestamp_granularities: list[Granularity] = Field(default_factory=list, max_length=2)

    @field_validator("language", "prompt", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("language", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _supported(self) -> Self:
        if self.stream:
            raise ValueError("streaming is not supported: send stream=false")
        if self.timestamp_granularities and self.response_format != "verbose_json":
            raise ValueError("timestamp_granularities[] needs response_format=verbose_json")
        return self


class Usage(BaseModel):
    type: Literal["duration"] = "duration"
    seconds: int


class TranscriptionJson(BaseModel):
    """`response_format=json`."""

    text: str
    usage: Usage


class VerboseWord(BaseModel):
    word: str
    start: float
    end: float


class VerboseSegment(BaseModel):
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class TranscriptionVerbose(BaseModel):
    """`response_format=verbose_json`; `words` only when word timestamps were asked for."""

    model_config = ConfigDict(json_schema_extra={"description": "as OpenAI's verbose_json"})

    task: Task
    language: str
    duration: float
    text: str
    segments: list[VerboseSegment]
    words: list[VerboseWord] | None = None
    usage: Usage


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]
