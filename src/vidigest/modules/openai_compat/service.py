"""The OpenAI-compatible audio API over the durable pipeline: which model a request names,
the video a request becomes (or the one it already became: same bytes, same options), waiting
for its transcript, and the transcript in OpenAI's response formats.

A request is a normal video: registered like an upload (speakers off: OpenAI's formats have no
place for them), carried by the outbox and the workers, visible in the API and the UI,
resumable. The request only waits for it; a request that stops waiting leaves it running.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from vidigest.common.constants import VideoStatus
from vidigest.common.exceptions import ModelError
from vidigest.common.types import Task, Transcript
from vidigest.config import Settings
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.http.errors import ApiError, ErrorCode
from vidigest.modules.openai_compat.languages import language_name
from vidigest.modules.openai_compat.schemas import (
    AudioOptions,
    ModelObject,
    ResponseFormat,
    TranscriptionJson,
    TranscriptionVerbose,
    Usage,
    VerboseSegment,
    VerboseWord,
)
from vidigest.modules.transcription.formats import to_srt, to_vtt
from vidigest.modules.transcription.model_files import (
    ACCURATE,
    ACCURATE_PIP_COMMAND,
    FAST,
    is_multilingual,
    preset_installed,
)
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.models import Video
from vidigest.modules.videos.service import VideoService
from vidigest.modules.videos.sources import ReceivedUpload

WHISPER_1 = "whisper-1"  # the name OpenAI's clients send: the server's default model
# OpenAI's newer transcription models, which its reference examples name: the default here too
DEFAULT_ALIASES = frozenset({"gpt-4o-transcribe", "gpt-4o-mini-transcribe"})
OWNER = "vidigest"
# statuses at which the transcript is stored (the summary may still be running)
TRANSCRIPT_READY = frozenset(
    {VideoStatus.TRANSCRIBED, VideoStatus.SUMMARIZING, VideoStatus.COMPLETED}
)
POLL_SECONDS = 0.25


# --- models ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogEntry:
    id: str  # what a request names
    spec: str  # what the transcriber loads: a preset, or a model directory


def catalogue(settings: Settings) -> list[CatalogEntry]:
    """The models a request may name: `whisper-1` (the server's default, VIDIGEST_ASR_MODEL),
    the presets whose weights are installed, and the model directory the server is configured
    with (by its folder name)."""
    entries = [CatalogEntry(WHISPER_1, settings.asr_model)]
    entries += [CatalogEntry(p, p) for p in (FAST, ACCURATE) if preset_installed(p)]
    if settings.asr_model not in (FAST, ACCURATE):
        entries.append(CatalogEntry(Path(settings.asr_model).name, settings.asr_model))
    return entries


def model_objects(settings: Settings) -> list[ModelObject]:
    return [ModelObject(id=e.id, created=0, owned_by=OWNER) for e in catalogue(settings)]


def find_model(settings: Settings, model_id: str) -> ModelObject:
    for entry in model_objects(settings):
        if entry.id == model_id:
            return entry
    raise ApiError(ErrorCode.NOT_FOUND, f"the model {model_id!r} does not exist", param="model")


def _multilingual(spec: str) -> bool:
    try:
        return is_multilingual(spec)
    except ModelError as error:
        raise ApiError(ErrorCode.INTERNAL_ERROR, "the configured model cannot be read") from error


def resolve_model(settings: Settings, model_id: str, task: Task) -> str:
    """The model spec a request's `model` names (OpenAI's gpt-4o-(mini-)transcribe: as
    whisper-1), for its task. A translation needs a
    multilingual model: `whisper-1` then means the default if it is one, else the `accurate`
    preset; an English-only model named for a translation is a 400."""
    entries = {e.id: e.spec for e in catalogue(settings)}
    if model_id in DEFAULT_ALIASES:
        model_id = WHISPER_1
    if model_id not in entries:
        names = ", ".join(entries)
        raise ApiError(
            ErrorCode.BAD_REQUEST,
            f"the model {model_id!r} does not exist on this server (models: {names})",
            param="model",
        )
    spec = entries[model_id]
    if task != "translate" or _multilingual(spec):
        return spec
    if model_id == WHISPER_1:
        if preset_installed(ACCURATE):
            return ACCURATE
        raise ApiError(
            ErrorCode.BAD_REQUEST,
            "translation needs a multilingual model and this server has none installed "
            f"(the 'accurate' preset: {ACCURATE_PIP_COMMAND})",
            param="model",
        )
    raise ApiError(
        ErrorCode.BAD_REQUEST,
        f"the model {model_id!r} is English-only: it cannot translate (use a multilingual "
        f"model such as {ACCURATE!r}, or {WHISPER_1!r})",
        param="model",
    )


# --- the video a request becomes -----------------------------------------------------------------

# find-or-register is one critical section per process: two identical requests at once make
# one video (processes of `serve --workers N` may each make one)
_register_lock = threading.Lock()


def _stored_task(task: Task) -> str | None:
    return None if task == "transcribe" else task


def _same_request(
    session: Session, sha256: str, spec: str, task: Task, language: str | None
) -> Video | None:
    """The newest video of these bytes registered with these options, if any."""
    query = (
        select(Video)
        .where(Video.content_sha256 == sha256, Video.model == spec)
        .order_by(Video.created_at.desc(), Video.id.desc())
        .limit(1)
    )
    stored_task = _stored_task(task)
    query = query.where(
        Video.task.is_(None) if stored_task is None else Video.task == stored_task,
        Video.language.is_(None) if language is None else Video.language == language,
    )
    return session.scalars(query).first()


def find_or_register(
    session_factory: SessionFactory,
    received: ReceivedUpload,
    spec: str,
    task: Task,
    options: AudioOptions,
) -> tuple[Video, bool]:
    """The video of this request and whether it is new. The same bytes (sha256) with the same
    model, task and language find the video they made before; a FAILED one is queued again.
    (`prompt` and `temperature` are not part of it: they do not change the transcript.)"""
    assert received.sha256 is not None
    with _register_lock, db_session_context(session_factory) as session:
        found = _same_request(session, received.sha256, spec, task, options.language)
        if found is not None:
            if found.status == VideoStatus.FAILED.value:
                return VideoService(session).retry(found.id), False
            return found, False
        video = VideoService(session).register(
            media_path=received.ref,
            size_bytes=received.size,
            source_type="upload",
            source_uri=received.filename,
            filename=received.filename,
            language=options.language,
            model=spec,
            speakers="off",
            task=task,
            content_sha256=received.sha256,
        )
        return video, True


def _status(session_factory: SessionFactory, video_id: str) -> tuple[str, str | None]:
    with db_session_context(session_factory) as session:
        video = VideoService(session).get(video_id)
        return video.status, video.error


async def wait_for_transcript(
    session_factory: SessionFactory,
    video_id: str,
    seconds: float,
    gone: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Return once the video's transcript is stored. A FAILED video is a 500 with its reason;
    after `seconds` (or when the client went away) a 504 that names the video, which goes
    on."""
    deadline = time.monotonic() + seconds
    while True:
        status, error = await run_in_threadpool(_status, session_factory, video_id)
        if status in TRANSCRIPT_READY:
            return
        if status == VideoStatus.FAILED:
            raise ApiError(
                ErrorCode.PROCESSING_FAILED,
                f"video {video_id} failed: {error or 'no reason recorded'}",
            )
        left = deadline - time.monotonic()
        if left <= 0 or (gone is not None and await gone()):
            raise ApiError(
                ErrorCode.STILL_PROCESSING,
                f"video {video_id} is not transcribed yet after {seconds:g} s (status {status}). "
                f"It goes on: send the same request again (the same file and options find this "
                f"video) or read GET /videos/{video_id}/transcript later",
            )
        await asyncio.sleep(min(POLL_SECONDS, left))


def load_transcript(session_factory: SessionFactory, video_id: str) -> Transcript:
    with db_session_context(session_factory) as session:
        return TranscriptService(session).load(video_id)


# --- response formats ----------------------------------------------------------------------------


def _without_speakers(t: Transcript) -> Transcript:
    """OpenAI's subtitles carry no speaker names (a video registered elsewhere may have them)."""
    segments = tuple(s.model_copy(update={"speaker": None}) for s in t.segments)
    return t.model_copy(update={"speakers": (), "turns": (), "segments": segments})


def _compression_ratio(text: str) -> float:
    """Whisper's: bytes of the text over bytes of its zlib compression."""
    data = text.encode("utf-8")
    return round(len(data) / len(zlib.compress(data)), 4) if data else 0.0


def _avg_logprob(probabilities: Sequence[float]) -> float:
    """The mean log probability of the segment's words (the tokens' are not kept)."""
    if not probabilities:
        return 0.0
    return round(sum(math.log(max(p, 1e-10)) for p in probabilities) / len(probabilities), 4)


def verbose(t: Transcript, task: Task, words: bool) -> TranscriptionVerbose:
    segments = [
        VerboseSegment(
            id=n,
            seek=int(s.start * 100),  # in 10 ms frames, as Whisper's
            start=round(s.start, 3),
            end=round(s.end, 3),
            text=s.text,
            tokens=[],
            temperature=0.0,
            avg_logprob=_avg_logprob([w.probability for w in s.words]),
            compression_ratio=_compression_ratio(s.text),
            no_speech_prob=0.0,  # segments come from speech the VAD found
        )
        for n, s in enumerate(t.segments)
    ]
    return TranscriptionVerbose(
        task=task,
        language="english" if task == "translate" else language_name(t.language),
        duration=round(t.duration, 3),
        text=t.text,
        segments=segments,
        words=[
            VerboseWord(word=w.text.strip(), start=round(w.start, 3), end=round(w.end, 3))
            for s in t.segments
            for w in s.words
        ]
        if words
        else None,
        usage=_usage(t),
    )


def _usage(t: Transcript) -> Usage:
    return Usage(seconds=math.ceil(t.duration))


MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "verbose_json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "text/plain; charset=utf-8",  # what OpenAI answers for both
    "vtt": "text/plain; charset=utf-8",
}


def render(
    t: Transcript, fmt: ResponseFormat, task: Task, granularities: Sequence[str]
) -> tuple[str, str]:
    """The body in `fmt` and its media type."""
    if fmt == "json":
        body = TranscriptionJson(text=t.text, usage=_usage(t)).model_dump_json()
    elif fmt == "verbose_json":
        body = verbose(t, task, "word" in granularities).model_dump_json(exclude_none=True)
    elif fmt == "text":
        body = t.text + "\n"
    elif fmt == "srt":
        body = to_srt(_without_speakers(t))
    else:
        body = to_vtt(_without_speakers(t))
    return body, MEDIA_TYPES[fmt]
