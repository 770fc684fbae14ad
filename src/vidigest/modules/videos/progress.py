"""Progress reporters: stored on the video row (for API/CLI readers) and fanned out.

A stored report is also the worker's check that the video is still its own: the write is
conditional on the stage's status, and when the video has left it (cancelled by the user) the
report raises VideoStateError, which stops the work where it is."""

from __future__ import annotations

import time
from collections.abc import Sequence

from vidigest.common.constants import VideoStatus
from vidigest.common.exceptions import VideoStateError
from vidigest.common.types import ProgressReporter
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
