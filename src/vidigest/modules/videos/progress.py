"""Progress reporters: stored on the video row (for API/CLI readers) and fanned out.

A stored report is also the worker's check that the video is still its own: the write is
conditional on the stage's status, and when the video has left it (cancelled by the user) the
report raises VideoStateError, which stops the work where it is."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from vidigest.common.constants import EventType, VideoStatus
from vidigest.common.exceptions import VideoStateError
from vidigest.common.types import Event, ProgressReporter, VideoProgress
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.modules.videos.service import VideoService

# the status a video is in while each stored phase runs
PHASE_STATUS = {"transcribe": VideoStatus.TRANSCRIBING, "summarize": VideoStatus.SUMMARIZING}


class StoredProgress:
    """Writes the percent done of one phase to `videos.progress`, at most every few seconds
    (`min_interval`: one write per 2 s by default, whatever the reports' rate); raises
    VideoStateError from `update` once the video has left the phase's status (cancelled)."""

    def __init__(
        self,
        session_factory: SessionFactory,
        video_id: str,
        phase: str,
        min_interval: float = 2.0,
    ) -> None:
        self.session_factory = session_factory
        self.video_id = video_id
        self.phase = phase  # only this phase's progress is stored
        self.min_interval = min_interval
        self._total = 0.0
        self._last_write = 0.0

    def start(self, phase: str, total: float) -> None:
        if phase == self.phase:
            self._total = total

    def update(self, phase: str, completed: float) -> None:
        now = time.monotonic()
        if now - self._last_write < self.min_interval:
            return
        status = PHASE_STATUS.get(self.phase)
        if phase != self.phase or self._total <= 0:
            if status is not None and phase != self.phase:  # another phase of the same stage
                self._last_write = now
                with db_session_context(self.session_factory) as session:
                    VideoService(session).still(self.video_id, status)
            return
        self._last_write = now
        percent = min(100.0, 100.0 * completed / self._total)
        with db_session_context(self.session_factory) as session:
            if not VideoService(session).set_progress(self.video_id, percent, status):
                raise VideoStateError(f"video {self.video_id} left {status}: its work stopped")

    def finish(self, phase: str) -> None:
        pass  # the step's final transaction stores 100 %


# the stage a phase of work belongs to, as events name it
_STAGE_OF_PHASE = {"transcribe": "transcription", "summarize": "summary"}


EmitEvent = Callable[[Event], None]


class ProgressEvents:
    """Emits `video.progress` events (for webhook subscribers) at most every `min_interval`
    seconds per video and phase: stage, percent, seconds of audio processed (transcription,
    whose unit is seconds of audio) and the time left at the pace so far."""

    def __init__(
        self,
        emit: EmitEvent,
        video_id: str,
        phase: str,
        min_interval: float = 10.0,
    ) -> None:
        self.emit = emit
        self.video_id = video_id
        self.phase = phase
        self.min_interval = min_interval
        self._total = 0.0
        self._started = 0.0
        self._last = 0.0

    def start(self, phase: str, total: float) -> None:
        if phase == self.phase:
            self._total = total
            self._started = self._last = time.monotonic()

    def update(self, phase: str, completed: float) -> None:
        now = time.monotonic()
        if phase != self.phase or self._total <= 0 or now - self._last < self.min_interval:
            return
        self._last = now
        completed = min(completed, self._total)
        elapsed = now - self._started
        eta = elapsed * (self._total - completed) / completed if completed > 0 else None
        audio = phase == "transcribe"
        progress = VideoProgress(
            video_id=self.video_id,
            stage=_STAGE_OF_PHASE.get(phase, phase),
            percent=round(100.0 * completed / self._total, 1),
            processed_audio_seconds=round(completed, 1) if audio else None,
            total_audio_seconds=round(self._total, 1) if audio else None,
            eta_seconds=round(eta, 1) if eta is not None else None,
        )
        self.emit(
            Event(
                event_type=EventType.VIDEO_PROGRESS,
                aggregate_id=self.video_id,
                payload=progress.model_dump(mode="json", exclude_none=True),
            )
        )

    def finish(self, phase: str) -> None:
        pass  # the end of a stage is its own event


class FanOutProgress:
    def __init__(self, reporters: Sequence[ProgressReporter]) -> None:
        self.reporters = list(reporters)

    def start(self, phase: str, total: float) -> None:
        for reporter in self.reporters:
            reporter.start(phase, total)

    def update(self, phase: str, completed: float) -> None:
        for reporter in self.reporters:
            reporter.update(phase, completed)

    def finish(self, phase: str) -> None:
        for reporter in self.reporters:
            reporter.finish(phase)
