"""HTTP routes of speakers (list and rename a video's speakers) and voice profiles (save a
named speaker's voice, list, delete). Embeddings never leave the server."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from vidigest.http.deps import SessionDep
from vidigest.http.errors import ApiError, ErrorCode, error_responses
from vidigest.modules.speakers.schemas import (
    LABEL_PATTERN,
    RenameRequest,
    SpeakerList,
    SpeakerOut,
    VoiceList,
    VoiceOut,
    VoiceRequest,
)
from vidigest.modules.speakers.service import (
    SpeakerConflictError,
    SpeakerService,
    VoiceProfileService,
)

router = APIRouter(tags=["speakers"])

Label = Annotated[str, Path(pattern=LABEL_PATTERN, description='e.g. "SPEAKER_1"')]


@router.get(
    "/videos/{video_id}/speakers",
    response_model=SpeakerList,
    summary="The speakers of a video: label, name, talk time",
    responses=error_responses(404),
)
def list_speakers(video_id: str, session: SessionDep) -> SpeakerList:
    speakers = SpeakerService(session).of_video(video_id)
    return SpeakerList(video_id=video_id, speakers=[SpeakerOut.of(s) for s in speakers])


@router.patch(
    "/videos/{video_id}/speakers/{label}",
    response_model=SpeakerOut,
    summary="Name a speaker of a video (null: back to Speaker N)",
    responses=error_responses(404, 422),
)
def rename_speaker(
    video_id: str, label: Label, body: RenameRequest, session: SessionDep
) -> SpeakerOut:
    return SpeakerOut.of(SpeakerService(session).rename(video_id, label, body.name))


@router.post(
    "/voices",
    response_model=VoiceOut,
    status_code=201,
    summary="Save a speaker's voice under a name; later videos name a matching voice with it",
    responses=error_responses(404, 409, 422),
)
def save_voice(body: VoiceRequest, session: SessionDep) -> VoiceOut:
    try:
        voice = VoiceProfileService(session).save(body.video_id, body.speaker, body.name)
    except SpeakerConflictError as exc:
        raise ApiError(ErrorCode.CONFLICT, str(exc)) from exc
    return VoiceOut.of(voice)


@router.get("/voices", response_model=VoiceList, summary="The voice profiles (names only)")
def list_voices(session: SessionDep) -> VoiceList:
    return VoiceList(voices=[VoiceOut.of(v) for v in VoiceProfileService(session).all()])


@router.delete(
    "/voices/{voice_id}",
    status_code=204,
    summary="Delete a voice profile (names it gave stay)",
    responses=error_responses(404),
)
def delete_voice(voice_id: str, session: SessionDep) -> Response:
    VoiceProfileService(session).delete(voice_id)
    return Response(status_code=204)
