"""Speakers as people see them: the speakers of a video (rename them), and voice profiles (save a
named speaker's voice, list, delete, and load them to name the speakers of later videos).

The storage of a diarization itself (labels on segments and words, turns, centroids) is part of
the transcript: `TranscriptService.apply_speakers`, written in the transaction that completes
the transcript.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from vidigest.common.exceptions import NotFoundError, VidigestError
from vidigest.database.repository import GenericRepository
from vidigest.modules.speakers.models import VoiceProfile
from vidigest.modules.speakers.naming import check_name, default_name
from vidigest.modules.transcription.models import TranscriptSpeaker
from vidigest.modules.transcription.service import (
    TranscriptService,
    centroid_array,
    centroid_bytes,
)

Embedding = npt.NDArray[np.float32]

# What names the speakers of a new video from the voice profiles (the engine's
# `speakers.profiles.match_profiles`): centroids (label -> embedding), profiles (name, embedding)
# -> label -> profile name.
ProfileMatcher = Callable[[dict[str, Embedding], Sequence[tuple[str, Embedding]]], dict[str, str]]


class SpeakerConflictError(VidigestError):
    """The request cannot be met as things stand: a voice name taken, a speaker without a voice
    embedding (not diarized, or found by an older version)."""


@dataclass(frozen=True)
class SpeakerInfo:
    label: str
    name: str | None  # the given name; None: none given
    display_name: str  # what exports show: the name, else "Speaker N"
    talk_time: float
    has_voice: bool  # a centroid is stored: it can be saved as a voice profile


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    name: str
    created_at: datetime
    source_video_id: str | None
    source_speaker: str | None


def _info(row: TranscriptSpeaker) -> SpeakerInfo:
    return SpeakerInfo(
        label=row.label,
        name=row.name,
        display_name=row.name or default_name(row.label),
        talk_time=row.talk_time,
        has_voice=row.centroid is not None,
    )


def _voice(row: VoiceProfile) -> VoiceInfo:
    return VoiceInfo(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        source_video_id=row.source_video_id,
        source_speaker=row.source_speaker,
    )


class SpeakerService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.transcripts = TranscriptService(session)

    def _row(self, video_id: str, label: str) -> TranscriptSpeaker:
        record = self.transcripts.get_record(video_id)
        row = GenericRepository(self.session, TranscriptSpeaker).find_one(
            {"transcript_id": record.id, "label": label}
        )
        if row is None:
            raise NotFoundError(f"video {video_id} has no speaker {label!r}")
        return row

    def of_video(self, video_id: str) -> list[SpeakerInfo]:
        """The video's speakers, in order of first appearance (none: not diarized)."""
        record = self.transcripts.get_record(video_id)
        return [_info(row) for row in self.transcripts.speaker_rows(record.id)]

    def rename(self, video_id: str, label: str, name: str | None) -> SpeakerInfo:
        """Give a speaker of the video a name (None: back to "Speaker N"). ValueError for a
        name `check_name` refuses; NotFoundError for an unknown video, transcript or label."""
        checked = None if name is None else check_name(name)
        row = self._row(video_id, label)
        row.name = checked
        self.session.flush()
        return _info(row)


class VoiceProfileService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.repository = GenericRepository(session, VoiceProfile)

    def save(self, video_id: str, label: str, name: str) -> VoiceInfo:
        """Save the voice of speaker `label` of the video as a profile named `name`, and give
        the speaker that name in this video too. SpeakerConflictError when the speaker has no
        voice embedding or the name is taken (names are unique: a match names one person)."""
        checked = check_name(name)
        row = SpeakerService(self.session)._row(video_id, label)
        if row.centroid is None:
            raise SpeakerConflictError(
                f"speaker {label} of video {video_id} has no voice embedding to save"
            )
        if self.repository.find_one({"name": checked}) is not None:
            raise SpeakerConflictError(f"a voice named {checked!r} exists; delete it first")
        profile = self.repository.add(
            VoiceProfile(
                name=checked,
                embedding=row.centroid,
                source_video_id=video_id,
                source_speaker=label,
            )
        )
        row.name = checked
        self.session.flush()
        return _voice(profile)

    def all(self) -> list[VoiceInfo]:
        return [_voice(p) for p in self.repository.find_all(order_by=["name"])]

    def delete(self, profile_id: str) -> None:
        """Delete a profile; names it gave to speakers of earlier videos stay."""
        if self.repository.delete_where({"id": profile_id}) == 0:
            raise NotFoundError(f"no voice profile {profile_id}")

    def embeddings(self) -> list[tuple[str, Embedding]]:
        """Every profile as (name, embedding): what the matcher compares new speakers with."""
        return [(p.name, centroid_array(p.embedding)) for p in self.repository.find_all()]

    def add(self, name: str, embedding: npt.ArrayLike) -> VoiceInfo:
        """A profile from an embedding (tests, imports); the name is checked like any other."""
        checked = check_name(name)
        if self.repository.find_one({"name": checked}) is not None:
            raise SpeakerConflictError(f"a voice named {checked!r} exists; delete it first")
        profile = self.repository.add(
            VoiceProfile(name=checked, embedding=centroid_bytes(embedding))
        )
        self.session.flush()
        return _voice(profile)


def profile_names(
    session: Session,
    centroids: Mapping[str, npt.ArrayLike],
    matcher: ProfileMatcher | None,
) -> dict[str, str]:
    """label -> profile name for the speakers of a new diarization whose voice matches a stored
    profile (`matcher` decides, with its measured threshold); {} without a matcher, profiles or
    centroids."""
    if matcher is None or not centroids:
        return {}
    profiles = VoiceProfileService(session).embeddings()
    if not profiles:
        return {}
    vectors = {label: np.asarray(v, dtype=np.float32) for label, v in centroids.items()}
    return dict(matcher(vectors, profiles))
