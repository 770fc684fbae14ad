"""Video registration, status changes and status history."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from vidigest.common.constants import TERMINAL_STATUSES, EventType, VideoStatus
from vidigest.common.exceptions import VideoNotFoundError, VidigestError
from vidigest.common.types import Event, VideoFailed, VideoRegistered
from vidigest.database.repository import GenericRepository
from vidigest.messaging.outbox import OutboxService
from vidigest.modules.summary.models import VideoSummaryRecord
from vidigest.modules.transcription.models import TranscriptRecord
from vidigest.modules.videos.models import Video, VideoStatusLog


class VideoStateError(VidigestError):
    """The video is not in a status that allows the operation (retry, delete)."""

    permanent = True


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
        media_path: Path,
        source_type: str,
        source_uri: str,
        filename: str | None = None,
        language: str | None = None,
        model: str | None = None,
        audio_track: int = 0,
    ) -> Video:
        """Video row + first status entry + `video.registered`, in the caller's transaction."""
        size = media_path.stat().st_size if media_path.is_file() else None
        video = self.repository.add(
            Video(
                filename=filename or media_path.name,
                source_type=source_type,
                source_uri=source_uri,
                media_path=str(media_path),
                size_bytes=size,
                status=VideoStatus.REGISTERED.value,
                progress=0.0,
                language=language,
                model=model,
                audio_track=audio_track,
            )
        )
        self.session.flush()  # assigns the id
        self.status_log.log_status_change(video.id, VideoStatus.REGISTERED)
        self._emit_registered(video)
        return video

    def _emit_registered(self, video: Video) -> None:
        payload = VideoRegistered(
            video_id=video.id,
            source_path=video.media_path,
            language=video.language,
            model=video.model,
            audio_track=video.audio_track,
        )
        self.outbox.add(
            Event(
                event_type=EventType.VIDEO_REGISTERED,
                aggregate_id=video.id,
                payload=payload.model_dump(mode="json"),
            )
        )

    def retry(self, video_id: str) -> Video:
        """FAILED -> REGISTERED: clears partial results (transcript, summary) and queues a new
        `video.registered` event, in the caller's transaction."""
        video = self.get(video_id)
        if video.status != VideoStatus.FAILED.value:
            raise VideoStateError(f"only a FAILED video can be retried; this one is {video.status}")
        GenericRepository(self.session, VideoSummaryRecord).delete_where({"video_id": video_id})
        GenericRepository(self.session, TranscriptRecord).delete_where({"video_id": video_id})
        self.set_status(video_id, VideoStatus.REGISTERED, reason="retry requested", progress=0.0)
        self.session.refresh(video)
        self._emit_registered(video)
        return video

    def delete(self, video_id: str) -> Video:
        """Deletes the video and (by cascade) its history, transcript and summary rows. Only a
        video no worker is busy with (COMPLETED or FAILED) can be deleted."""
        video = self.get(video_id)
        if VideoStatus(video.status) not in TERMINAL_STATUSES:
            raise VideoStateError(
                f"video {video_id} is being processed ({video.status}); delete it when it ends"
            )
        self.repository.delete_where({"id": video_id})
        return video

    def get(self, video_id: str) -> Video:
        video = self.repository.get(video_id)
        if video is None:
            raise VideoNotFoundError(video_id)
        return video

    def set_status(
        self,
        video_id: str,
        status: VideoStatus,
        *,
        reason: str | None = None,
        **values: object,
    ) -> None:
        """Update the status with one UPDATE (no fetch first) and append to the history."""
        changes: dict[str, object] = {"status": status.value, **values}
        if status is VideoStatus.FAILED:
            changes["error"] = reason
        elif "error" not in changes:
            changes["error"] = None
        if self.repository.update_where({"id": video_id}, changes) == 0:
            raise VideoNotFoundError(video_id)
        self.status_log.log_status_change(video_id, status, reason)

    def set_progress(self, video_id: str, percent: float) -> None:
        self.repository.update_where({"id": video_id}, {"progress": round(percent, 1)})

    def fail(self, video_id: str, stage: str, reason: str) -> None:
        """FAILED with a human-readable reason, plus a `video.failed` event."""
        self.set_status(video_id, VideoStatus.FAILED, reason=reason)
        self.outbox.add(
            Event(
                event_type=EventType.VIDEO_FAILED,
                aggregate_id=video_id,
                payload=VideoFailed(video_id=video_id, stage=stage, reason=reason).model_dump(),
            )
        )
