"""Request and response bodies of the speaker and voice routes (Pydantic)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vidigest.common.types import Identifier
from vidigest.modules.speakers.naming import MAX_NAME_LENGTH, check_name
from vidigest.modules.speakers.service import SpeakerInfo, VoiceInfo

# a diarization label as the engine writes them ("SPEAKER_1"); anything else is no speaker
LABEL_PATTERN = r"^[A-Za-z0-9_]{1,32}$"


def _name(value: str) -> str:
    return check_name(value)  # ValueError -> 422 with the reason


class SpeakerOut(BaseModel):
    label: str
    name: str | None = Field(description="The name given; null: none")
    display_name: str = Field(description='What exports show: the name, else "Speaker N"')
    talk_time: float = Field(description="Seconds")
    has_voice: bool = Field(description="A voice embedding is stored: it can be saved as a voice")

    @classmethod
    def of(cls, info: SpeakerInfo) -> SpeakerOut:
        return cls(
            label=info.label,
            name=info.name,
            display_name=info.display_name,
            talk_time=round(info.talk_time, 3),
            has_voice=info.has_voice,
        )


class SpeakerList(BaseModel):
    video_id: str
    speakers: list[SpeakerOut]


class RenameRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        max_length=4 * MAX_NAME_LENGTH,  # checked exactly after trimming
        description=f"1 to {MAX_NAME_LENGTH} characters, no control characters; null: no name",
    )

    @field_validator("name")
    @classmethod
    def _checked(cls, value: str | None) -> str | None:
        return None if value is None else _name(value)


class VoiceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    video_id: Identifier
    speaker: str = Field(pattern=LABEL_PATTERN, description='A label, e.g. "SPEAKER_1"')
    name: str = Field(max_length=4 * MAX_NAME_LENGTH)

    @field_validator("name")
    @classmethod
    def _checked(cls, value: str) -> str:
        return _name(value)


class VoiceOut(BaseModel):
    """A voice profile; its embedding never leaves the server."""

    id: str
    name: str
    created_at: datetime
    source_video_id: str | None
    source_speaker: str | None

    @classmethod
    def of(cls, info: VoiceInfo) -> VoiceOut:
        return cls(
            id=info.id,
            name=info.name,
            created_at=info.created_at,
            source_video_id=info.source_video_id,
            source_speaker=info.source_speaker,
        )


class VoiceList(BaseModel):
    voices: list[VoiceOut]
