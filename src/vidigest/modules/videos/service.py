"""Video registration, status changes and status history.

Every status change is one conditional UPDATE (`... WHERE id = :id AND status IN (...)`, the
statuses `ALLOWED_TRANSITIONS` lets move to the new one) checked by its row count, so of two
writers racing on one video exactly one wins: PostgreSQL re-checks the condition on the row
the winner committed, SQLite serializes writers. The status log is written after the UPDATE,
while its row lock (or SQLite's write lock) keeps every other transition of the video out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from vidigest.common.constants import (
    TERMINAL_STATUSES,
    EventType,
    VideoStatus,
    allowed_from,
)
from vidigest.common.exceptions import VideoNotFoundError, VideoStateError
from vidigest.common.speakers import check_bounds, parse_speakers
from vidigest.common.text import user_reason
from vidigest.common.types import TASKS, Event, VideoFailed, VideoRegistered
from vidigest.database.base import utcnow, video_result_tables
from vidigest.database.repository import GenericRepository
from vidigest.messaging.outbox import OutboxService
from vidigest.modules.videos.models import Video, VideoStatusLog

__all__ = ["CANCELLED_REASON", "VideoService", "VideoStateError", "VideoStatusLogService"]

# A cancelled video is FAILED with this reason: it may then be retried or deleted like any
# failed one, and a worker busy with it stops at its next check (`VideoService.still`).
CANCELLED_REASON = "cancelled by the user"
PROCESSING_STATUSES = frozenset(
    {
        VideoStatus.DOWNLOADING,
        VideoStatus.REGISTERED,
        VideoStatus.TRANSCRIBING,
        VideoStatus.TRANSCRIBED,
        VideoStatus.SUMMARIZING,
    }
)


def _speaker_choice(
    speakers: str | None, min_speakers: int | None, max_speakers: int | None
) -> str | None:
    """The choice as stored, checked (ValueError with the reason)."""
    choice = None if speakers is None else parse_speakers(speakers)
    check_bounds(choice or "auto", min_speakers, max_speakers)
    return choice


def _task(task: str | None) -> str | None:
    """The task as stored: None for transcribe (what every video did before tasks existed)."""
    if task in (None, "transcribe"):
        return None
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: transcribe or translate")
    return task


class VideoStatusLogService:
    def __init__(self, session: Session) -> None:
        self.repository = GenericRepository(session, VideoStatusLog)

    def last_status(self, video_id: str) -> VideoStatusLog | None:
        found = self.repository.find_all(
            filters={"video_id": video_id}, order_by=["created_at DESC", "id DESC"], limit=1
        )
        return found[0] if found else None

    def log_status_change(
        self, video_id: str, to_status: VideoStatus, reason: str | None = None
    ) -> VideoStatusLog:
        previous = self.last_status(video_id)
        return self.repository.add(
            VideoStatusLog(
                video_id=video_id,
                from_status=previous.to_status if previous else None,
                to_status=to_status.value,
                reason=reason,
            )
        )

    def history(self, video_id: str) -> list[VideoStatusLog]:
        return self.repository.find_all(
            filters={"video_id": video_id}, order_by=["created_at", "id"]
        )


class VideoService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.repository = GenericRepository(session, Video)
        self.status_log = VideoStatusLogService(session)
        self.outbox = OutboxService(session)

    def register(
        self,
        *,
        media_path: str | Path,
        source_type: str,
        source_uri: str,
        filename: str | None = None,
        language: str | None = None,
        model: str | None = None,
        audio_track: int = 0,
        speakers: str | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        size_bytes: int | None = None,
        task: str | None = None,
        content_sha256: str | None = None,
    ) -> Video:
        """Video row + first status entry + `video.registered`, in the caller's transaction.
        `media_path` is the media store's reference (a path, or `s3://bucket/key`).
        `speakers` ("auto", "off", a count; None: the worker's setting) and its bounds are
        checked here (ValueError), so that no worker receives a choice it cannot meet."""
        speakers = _speaker_choice(speakers, min_speakers, max_speakers)
        size = size_bytes
        if size is None and not str(media_path).startswith("s3://"):
            local = Path(media_path)
            size = local.stat().st_size if local.is_file() else None
        video = self._create(
            VideoStatus.REGISTERED,
            filename=filename or Path(media_path).name,
            source_type=source_type,
            source_uri=source_uri,
            media_path=str(media_path),
            size_bytes=size,
            language=language,
            model=model,
            audio_track=audio_track,
            speakers=speakers,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            task=_task(task),
            content_sha256=content_sha256,
        )
        self._emit_registered(video)
        return video

    def register_download(
        self,
        *,
        url: str,
        filename: str,
        language: str | None = None,
        model: str | None = None,
        speakers: str | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        task: str | None = None,
    ) -> Video:
        """A URL video, DOWNLOADING: no media yet (`media_path` is empty) and no event until
        `complete_download()` stores the file."""
        speakers = _speaker_choice(speakers, min_speakers, max_speakers)
        return self._create(
            VideoStatus.DOWNLOADING,
            filename=filename,
            source_type="url",
            source_uri=url,
            media_path="",
            size_bytes=None,
            language=language,
            model=model,
            audio_track=0,
            speakers=speakers,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            task=_task(task),
        )

    def _create(self, status: VideoStatus, **values: Any) -> Video:
        video = self.repository.add(Video(status=status.value, progress=0.0, **values))
        self.session.flush()  # assigns the id
        self.status_log.log_status_change(video.id, status)
        return video

    def complete_download(self, video_id: str, media_path: str | Path, size: int) -> Video:
        """DOWNLOADING -> REGISTERED with the downloaded file, and `video.registered`, in the
        caller's transaction (VideoStateError if the video is not DOWNLOADING any more)."""
        self.transition(
            video_id,
            VideoStatus.REGISTERED,
            allowed={VideoStatus.DOWNLOADING},
            media_path=str(media_path),
            size_bytes=size,
            progress=0.0,
        )
        video = self.get(video_id)
        self.session.refresh(video)
        self._emit_registered(video)
        return video

    def _emit_registered(self, video: Video) -> None:
        payload = VideoRegistered(
            video_id=video.id,
            source_path=video.media_path,
            language=video.language,
            model=video.model,
            audio_track=video.audio_track,
            speakers=video.speakers,
            min_speakers=video.min_speakers,
            max_speakers=video.max_speakers,
            task=video.task,
        )
        body = payload.model_dump(mode="json")
        for optional in ("speakers", "min_speakers", "max_speakers", "task"):
            if body[optional] is None:
                del body[optional]  # a message an older worker reads too
        self.outbox.add(
            Event(event_type=EventType.VIDEO_REGISTERED, aggregate_id=video.id, payload=body)
        )

    def retry(self, video_id: str) -> Video:
        """FAILED -> REGISTERED (a new `video.registered` event), or FAILED -> DOWNLOADING for
        a URL video whose download failed (the caller queues the download). Partial results
        (transcript, summary) are cleared, only by the one caller whose conditional UPDATE
        won, in the caller's transaction."""
        video = self.get(video_id)
        download = video.awaits_download
        target = VideoStatus.DOWNLOADING if download else VideoStatus.REGISTERED
        self.transition(
            video_id,
            target,
            allowed={VideoStatus.FAILED},
            reason="retry requested",
            progress=0.0,
            detected_language=None,
            asr_model=None,
            where=[Video.media_path == video.media_path],
            refusal="only a FAILED video can be retried",
        )
        for table in video_result_tables():  # the stages' results: marked by their features
            self.session.execute(
                delete(table).where(table.c.video_id == video_id),
                execution_options={"synchronize_session": False},
            )
        self.session.refresh(video)
        if target is VideoStatus.REGISTERED:
            self._emit_registered(video)
        return video

    def cancel(self, video_id: str) -> Video:
        """Stop processing a video: FAILED "cancelled by the user" (and `video.failed`), from
        any status but COMPLETED and FAILED, by the same conditional UPDATE as every change.
        The worker busy with it notices at its next check (between windows, at each progress
        report) and stores nothing more; the message is then recorded as skipped."""
        self.get(video_id)
        self.fail(
            video_id,
            "cancel",
            CANCELLED_REASON,
            allowed=PROCESSING_STATUSES,
            refusal="only a video being processed can be cancelled",
        )
        video = self.get(video_id)
        self.session.refresh(video)
        return video

    def still(self, video_id: str, status: VideoStatus) -> None:
        """VideoStateError (VideoNotFoundError when deleted) unless the video is still in
        `status`: a worker asks between pieces of long work whether it was cancelled."""
        current = self._current_status(video_id)
        if current != status.value:
            raise VideoStateError(f"video {video_id} is {current} now; its {status.value} stopped")

    def delete(self, video_id: str) -> Video:
        """Deletes the video and (by cascade) its history, transcript and summary rows, with
        one conditional DELETE: only a video no worker is busy with (COMPLETED or FAILED)."""
        video = self.get(video_id)
        terminal = [s.value for s in TERMINAL_STATUSES]
        if self.repository.delete_where({"id": video_id, "status": terminal}) == 0:
            current = self._current_status(video_id)
            raise VideoStateError(
                f"video {video_id} is being processed ({current}); cancel it first "
                f"(POST /videos/{video_id}/cancel), then delete it"
            )
        return video

    def get(self, video_id: str) -> Video:
        video = self.repository.get(video_id)
        if video is None:
            raise VideoNotFoundError(video_id)
        return video

    def transition(
        self,
        video_id: str,
        to: VideoStatus,
        *,
        allowed: Collection[VideoStatus] | None = None,
        reason: str | None = None,
        where: Sequence[ColumnElement[bool]] = (),
        refusal: str | None = None,
        **values: object,
    ) -> None:
        """Move the video to `to` with one conditional UPDATE, and log the change.

        `allowed` narrows the statuses `ALLOWED_TRANSITIONS` permits to move from (never
        widens them). A self-transition (a worker resuming TRANSCRIBING) updates the row but
        logs nothing: the history shows each stage once. Raises VideoNotFoundError, or
        VideoStateError when the video is in any other status (someone else moved it first).
        """
        sources = allowed_from(to)
        if allowed is not None:
            sources &= frozenset(allowed)
        changes: dict[str, object] = {"status": to.value, "stage_started_at": utcnow(), **values}
        if to is VideoStatus.FAILED:
            reason = user_reason(reason or "failed")
            changes["error"] = reason
        elif "error" not in changes:
            changes["error"] = None
        moved = [s.value for s in sources if s is not to]
        if moved and self._update_if(video_id, moved, where, changes):
            self.status_log.log_status_change(video_id, to, reason)
            return
        if to in sources and self._update_if(video_id, [to.value], where, changes):
            return  # resumed: the status log already shows this stage
        current = self._current_status(video_id)
        raise VideoStateError(
            refusal_message(video_id, current, to)
            if refusal is None
            else f"{refusal}; this one is {current}"
        )

    def _update_if(
        self,
        video_id: str,
        statuses: list[str],
        where: Sequence[ColumnElement[bool]],
        changes: Mapping[str, object],
    ) -> bool:
        """The one conditional UPDATE of a status change; True if it changed the row."""
        stmt = (
            update(Video)
            .where(Video.id == video_id, Video.status.in_(statuses), *where)
            .values(**changes)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(self.session.execute(stmt), "rowcount", 0)) == 1

    def _current_status(self, video_id: str) -> str:
        """The status, read after a refused change (only for the message; raises
        VideoNotFoundError when the video is gone)."""
        status = self.session.scalar(select(Video.status).where(Video.id == video_id))
        if status is None:
            raise VideoNotFoundError(video_id)
        return status

    def set_progress(
        self, video_id: str, percent: float, status: VideoStatus | None = None
    ) -> bool:
        """Store the percent done of the current stage; only while the video is in `status`
        (when given), so a late report cannot touch a video that moved on."""
        filters: dict[str, Any] = {"id": video_id}
        if status is not None:
            filters["status"] = status.value
        return self.repository.update_where(filters, {"progress": round(percent, 1)}) == 1

    def fail(
        self,
        video_id: str,
        stage: str,
        reason: str,
        *,
        allowed: Collection[VideoStatus] | None = None,
        where: Sequence[ColumnElement[bool]] = (),
        refusal: str | None = None,
    ) -> None:
        """FAILED with a human-readable reason (filtered by `user_reason`: no SQL, traceback
        or server path), plus a `video.failed` event. VideoStateError if the video already
        ended (COMPLETED or FAILED) or is not in `allowed`."""
        reason = user_reason(reason)
        self.transition(
            video_id,
            VideoStatus.FAILED,
            reason=reason,
            allowed=allowed,
            where=where,
            refusal=refusal,
        )
        self.outbox.add(
            Event(
                event_type=EventType.VIDEO_FAILED,
                aggregate_id=video_id,
                payload=VideoFailed(video_id=video_id, stage=stage, reason=reason).model_dump(),
            )
        )


def fail_video(session: Session, video_id: str, stage: str, reason: str) -> None:
    """`VideoService.fail` as the message handler's failure recorder (wired in `app.py`)."""
    VideoService(session).fail(video_id, stage, reason)


class DownloadService:
    """The bookkeeping of URL downloads that outlives one process: a heartbeat on the videos a
    process is downloading (or has queued), and failing those whose process died."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def heartbeat(self, video_ids: Collection[str]) -> None:
        """Touch `updated_at` of these DOWNLOADING videos: they are alive."""
        if video_ids:
            self.session.execute(
                update(Video)
                .where(Video.id.in_(list(video_ids)), Video.status == VideoStatus.DOWNLOADING)
                .values(updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    def fail_abandoned(self, cutoff: datetime, reason: str, keep: Collection[str] = ()) -> int:
        """FAILED (retryable) for every DOWNLOADING video not touched since `cutoff`: the
        process that had it died (it heartbeats its downloads, queued ones too). Each is a
        conditional change, so a heartbeat arriving meanwhile wins. Returns how many."""
        stale = self.session.scalars(
            select(Video.id).where(
                Video.status == VideoStatus.DOWNLOADING, Video.updated_at < cutoff
            )
        ).all()
        videos = VideoService(self.session)
        failed = 0
        for video_id in stale:
            if video_id in keep:
                continue
            try:
                videos.fail(
                    video_id,
                    "download",
                    reason,
                    allowed={VideoStatus.DOWNLOADING},
                    where=[Video.updated_at < cutoff],
                )
                failed += 1
            except (VideoStateError, VideoNotFoundError):
                pass  # alive after all, or gone
        return failed


def refusal_message(video_id: str, current: str, to: VideoStatus) -> str:
    allowed = sorted(s.value for s in allowed_from(to))
    if not allowed:
        return f"video {video_id} cannot become {to.value}"
    return (
        f"video {video_id} is {current}; it can become {to.value} only from {' or '.join(allowed)}"
    )
