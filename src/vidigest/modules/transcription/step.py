"""The transcription stage's step: what its worker does with one `video.registered` message
(the storage it writes through: `service.py`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from vidigest.common.constants import EventType, VideoStatus
from vidigest.common.speakers import speaker_hints
from vidigest.common.stages import TRANSCRIPTION
from vidigest.common.types import (
    Event,
    ProgressFactory,
    ProgressReporter,
    Segment,
    Task,
    Transcript,
    TranscriptionCompleted,
    VideoRegistered,
)
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.media.probe import probe_media
from vidigest.messaging.codec import parse_payload
from vidigest.messaging.outbox import OutboxService
from vidigest.modules.speakers.pipeline import Diarizer, SpeakerResult, diarize_file
from vidigest.modules.speakers.service import ProfileMatcher, profile_names
from vidigest.modules.transcription.asr import Window
from vidigest.modules.transcription.service import (
    PartialTranscript,
    TranscriptionResult,
    TranscriptService,
)
from vidigest.modules.videos.service import VideoService
from vidigest.storage import MediaStore

log = logging.getLogger(__name__)

# Media up to this long are transcribed in one go and stored in the final transaction; longer
# ones store each window as it is decoded, so progress is kept across a restart. (A constant,
# not a setting: whether to look for a partial transcript depends on the file alone.)
RESUMABLE_MIN_SECONDS = 120.0


class Transcriber(Protocol):
    @property
    def model_name(self) -> str: ...

    def transcribe(
        self,
        path: str | Path,
        *,
        language: str | None = ...,
        progress: ProgressReporter | None = ...,
        stream_index: int = ...,
        start_at: float = ...,
        task: Task = ...,
    ) -> Transcript: ...

    def iter_windows(
        self,
        path: str | Path,
        *,
        language: str | None = ...,
        progress: ProgressReporter | None = ...,
        stream_index: int = ...,
        start_at: float = ...,
        first_index: int = ...,
        previous_end: float | None = ...,
        task: Task = ...,
    ) -> Iterator[Window]: ...


class TranscriptionStep:
    stage = TRANSCRIPTION
    checks_before_work = True

    def __init__(
        self,
        transcriber_for: Callable[[str | None], Transcriber],
        progress_for: ProgressFactory,
        session_factory: SessionFactory,
        *,
        diarizer_for: Callable[[], Diarizer] | None = None,
        match_profiles: ProfileMatcher | None = None,
        default_speakers: str = "auto",
        max_media_seconds: float = 0.0,
        store: MediaStore | None = None,
    ) -> None:
        self.transcriber_for = transcriber_for  # model spec (None: the default) -> transcriber
        self.progress_for = progress_for
        self.session_factory = session_factory
        # Who said what (app.py builds both from the speakers engine): None: no diarization
        # in this process, transcripts come without speakers whatever was asked
        self.diarizer_for = diarizer_for
        self.match_profiles = match_profiles  # names speakers whose voice a profile matches
        self.default_speakers = default_speakers  # VIDIGEST_SPEAKERS, for videos that chose none
        self.max_media_seconds = max_media_seconds
        # where the media is read from (None: the event's path as it is); a bucket's object
        # is copied into a scratch file for the run and removed after it
        self.store = store

    def video_id(self, event: Event) -> str:
        return parse_payload(VideoRegistered, event).video_id

    def begin(self, session: Session, event: Event) -> None:
        """REGISTERED -> TRANSCRIBING, or TRANSCRIBING again (a redelivery or a restart
        resumes); VideoStateError for a video past this stage or failed."""
        VideoService(session).transition(
            self.video_id(event), VideoStatus.TRANSCRIBING, progress=0.0
        )

    def run(self, event: Event) -> TranscriptionResult:
        payload = parse_payload(VideoRegistered, event)
        if self.store is None:
            return self._run(payload)
        with self.store.local_copy(payload.source_path) as path:
            return self._run(payload.model_copy(update={"source_path": str(path)}))

    def _run(self, payload: VideoRegistered) -> TranscriptionResult:
        video_id = payload.video_id
        transcriber = self.transcriber_for(payload.model)
        duration = probe_media(payload.source_path).duration
        resumable = duration == 0.0 or duration > RESUMABLE_MIN_SECONDS
        partial = self._partial(video_id, transcriber) if resumable else None
        language = payload.language
        if partial is not None and partial.segment_count and not language:
            language = partial.language  # locked where speech was first heard
        transcript_id = partial.id if partial else None
        stored = partial.segment_count if partial else 0
        resume_at = partial.resume_at if partial else 0.0
        pending: list[Segment] = []
        windows = transcriber.iter_windows(
            payload.source_path,
            language=language,
            progress=self.progress_for(video_id, "transcribe"),
            stream_index=payload.audio_track,
            start_at=resume_at,
            first_index=stored,
            previous_end=partial.last_end if partial else None,
            task=payload.task or "transcribe",
        )
        for window in windows:
            self._still_transcribing(video_id)  # cancelled meanwhile: stop here
            if window.last:
                # a translation's text is English: the complete transcript says so (summary,
                # keywords and exports read it); the windows stored for a resume keep the
                # spoken language, which a resumed translation must decode with
                translated = payload.task == "translate"
                result = TranscriptionResult(
                    transcript_id=transcript_id,
                    stored_segments=stored,
                    resume_at=resume_at,
                    pending=(*pending, *window.segments),
                    language="en" if translated else window.language,
                    language_probability=None if translated else window.language_probability,
                    duration=window.duration,
                    model=window.model,
                )
                return replace(result, speakers=self._speakers(payload, result))
            if not resumable:
                pending.extend(window.segments)
                continue
            with db_session_context(self.session_factory) as session:
                service = TranscriptService(session)
                if transcript_id is None:
                    transcript_id = service.start_partial(video_id, window)
                else:
                    service.append(transcript_id, window, stored=stored, resume_at=resume_at)
            stored += len(window.segments)
            resume_at = window.end
            log.info(
                "transcription: video %s: window %.1f-%.1f s stored (%d segments, %d in all)",
                video_id,
                window.start,
                window.end,
                len(window.segments),
                stored,
            )
        raise AssertionError("iter_windows ended without its last window")  # pragma: no cover

    def _still_transcribing(self, video_id: str) -> None:
        """VideoStateError when the video left TRANSCRIBING meanwhile (cancelled by the user):
        the handler then records the message as skipped, and nothing more is stored."""
        with db_session_context(self.session_factory) as session:
            VideoService(session).still(video_id, VideoStatus.TRANSCRIBING)

    def _speakers(
        self, payload: VideoRegistered, result: TranscriptionResult
    ) -> SpeakerResult | None:
        """Diarize the whole track once transcription is done (no transaction held; a restart
        diarizes again: only the completing transaction stores turns, so none is stored twice).
        Nothing at all is done when speakers are off (`--speakers off` costs nothing), when
        this process has no diarizer, or when nothing was said."""
        choice = payload.speakers or self.default_speakers
        hints = speaker_hints(choice, payload.min_speakers, payload.max_speakers)
        if not hints.enabled or result.segment_count == 0:
            return None
        if self.diarizer_for is None:
            log.debug("speakers: no diarizer in this process; video %s", payload.video_id)
            return None
        found = diarize_file(
            self.diarizer_for(),
            payload.source_path,
            hints,
            stream_index=payload.audio_track,
            max_seconds=self.max_media_seconds,
            expected_seconds=result.duration,
            # phase "diarize": shown by live progress bars, not stored over the percentage
            progress=self.progress_for(payload.video_id, "transcribe"),
        )
        if found.centroids and self.match_profiles is not None:
            with db_session_context(self.session_factory) as session:
                names = profile_names(session, found.centroids, self.match_profiles)
            found = replace(found, names=names)
        return found

    def _partial(self, video_id: str, transcriber: Transcriber) -> PartialTranscript | None:
        """The transcript a previous attempt left in progress, if it can be resumed."""
        with db_session_context(self.session_factory) as session:
            service = TranscriptService(session)
            partial = service.find_partial(video_id)
            if partial is None:
                return None
            model = transcriber.model_name
            if partial.model != model:
                log.warning(
                    "transcription: video %s: discarding the partial transcript of model %s "
                    "(now %s) and starting over",
                    video_id,
                    partial.model,
                    model,
                )
                service.discard_partial(partial.id)
                return None
        log.info(
            "transcription: video %s: resuming at %.1f s (%d segments stored)",
            video_id,
            partial.resume_at,
            partial.segment_count,
        )
        return partial

    def complete(self, session: Session, event: Event, result: TranscriptionResult) -> None:
        video_id = self.video_id(event)
        # the status first: a stale delivery is refused before it writes a transcript
        VideoService(session).transition(
            video_id,
            VideoStatus.TRANSCRIBED,
            duration=result.duration,
            progress=100.0,
            detected_language=result.language,
            asr_model=result.model,
        )
        transcript_id, segment_count = TranscriptService(session).finish(video_id, result)
        OutboxService(session).add(
            Event(
                event_type=EventType.TRANSCRIPTION_COMPLETED,
                aggregate_id=video_id,
                payload=TranscriptionCompleted(
                    video_id=video_id,
                    transcript_id=transcript_id,
                    segment_count=segment_count,
                    language=result.language,
                ).model_dump(),
            )
        )
