"""URL downloads as a tracked stage: a video registered from a URL is DOWNLOADING at once, and
its file is fetched here, outside the request, by a small pool of threads of its own.

Why a pool of its own: a download lasts as long as the remote server makes it (up to the
deadline), and a request thread held that long starves every other request. The pool is
bounded twice: `workers` downloads run at a time and at most `queue_size` more wait; beyond
that `reserve()` says no and the API answers 503 instead of queueing without end.

A download ends in one transaction: the file, REGISTERED and `video.registered`
(`VideoService.complete_download`), or FAILED with a reason the user can read. Stopping the
pool (the app's shutdown, SIGTERM) cancels running downloads at once (their sockets are shut,
see `DownloadGuard`) and fails them and the queued ones "download interrupted": a retry starts
them again. A process that dies without stopping leaves DOWNLOADING videos that no one
heartbeats any more; every pool fails those (retryable) when it starts and then periodically.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from vidigest.common.constants import VideoStatus
from vidigest.common.exceptions import MediaError, StorageError, VideoNotFoundError, VideoStateError
from vidigest.database.base import utcnow
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.http.errors import ApiError, ErrorCode
from vidigest.media.probe import check_duration
from vidigest.modules.videos.media_files import discard, probe_stored
from vidigest.modules.videos.service import DownloadService, VideoService
from vidigest.modules.videos.sources import (
    AddressPolicy,
    DownloadGuard,
    fetch_url,
    public_address,
)
from vidigest.storage import MediaStore

log = logging.getLogger(__name__)

INTERRUPTED = "download interrupted: the server stopped; retry to download it again"
ABANDONED = "download interrupted: the server that ran it stopped; retry to download it again"


@dataclass(frozen=True)
class DownloadJob:
    video_id: str
    url: str
    filename: str


class DownloadPool:
    def __init__(
        self,
        session_factory: SessionFactory,
        store: MediaStore,
        *,
        workers: int,
        queue_size: int,
        max_bytes: int,
        timeout: float,
        max_media_seconds: float = 0.0,
        allowed: AddressPolicy = public_address,
        on_registered: Callable[[], None] | None = None,
        heartbeat_seconds: float = 15.0,
        stale_after_seconds: float = 60.0,
        progress_interval: float = 1.0,
    ) -> None:
        self.session_factory = session_factory
        self.store = store
        self.workers = workers
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_media_seconds = max_media_seconds
        # which addresses may be fetched; tests admit their loopback server here (never a setting)
        self.allowed = allowed
        self.on_registered = on_registered
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_after_seconds = stale_after_seconds
        self.progress_interval = progress_interval
        self._slots = threading.BoundedSemaphore(workers + queue_size)
        self._queue: queue.Queue[DownloadJob] = queue.Queue()
        self._lock = threading.Lock()
        self._mine: set[str] = set()  # queued or running here: heartbeated, never swept
        self._active: dict[str, DownloadGuard] = {}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._sweep()  # what a dead process left behind
        except Exception as exc:  # the database may be down at start: the keeper tries again
            log.warning("downloads: could not look for abandoned downloads yet: %r", exc)
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"vidigest-download-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        keeper = threading.Thread(target=self._keep, name="vidigest-download-keeper", daemon=True)
        keeper.start()
        self._threads.append(keeper)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel every download now; the running and the queued ones end FAILED
        "download interrupted". Returns within about `timeout` seconds whatever the servers
        do (a thread still stuck, e.g. connecting, is left: its video is failed here, and
        its late result is refused by the status machine)."""
        self._stopping.set()
        with self._lock:
            guards = list(self._active.values())
        for guard in guards:
            guard.cancel()
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            self._fail(job.video_id, INTERRUPTED)
            self._done(job.video_id)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            stuck = list(self._mine)
        for video_id in stuck:
            self._fail(video_id, INTERRUPTED)

    def cancel(self, video_id: str) -> None:
        """Stop the download of this video if one is running here (its video was cancelled:
        the file is removed when the status machine refuses to store it)."""
        with self._lock:
            guard = self._active.get(video_id)
        if guard is not None:
            guard.cancel()

    # --- submitting ------------------------------------------------------------------------

    def reserve(self) -> bool:
        """Hold a place for one download; False when the pool and its queue are full."""
        if self._stopping.is_set():
            return False
        return self._slots.acquire(blocking=False)

    def release(self) -> None:
        """Give back a place reserved but not used."""
        self._slots.release()

    def submit(self, video_id: str, url: str, filename: str) -> None:
        """Queue the download of a DOWNLOADING video, in a place `reserve()` gave."""
        with self._lock:
            self._mine.add(video_id)
        self._queue.put(DownloadJob(video_id, url, filename))

    # --- the work --------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._download(job)
            except Exception:  # never lose the worker thread
                log.exception("download of video %s: unexpected error", job.video_id)
                self._fail(job.video_id, "download failed: internal error")
            finally:
                self._done(job.video_id)

    def _done(self, video_id: str) -> None:
        with self._lock:
            self._mine.discard(video_id)
            self._active.pop(video_id, None)
        self._slots.release()

    def _download(self, job: DownloadJob) -> None:
        guard = DownloadGuard(self.timeout)  # the deadline starts now, not when queued
        with self._lock:
            self._active[job.video_id] = guard
        if self._stopping.is_set():
            guard.cancel()
        try:
            received = fetch_url(
                job.url,
                self.store,
                max_bytes=self.max_bytes,
                timeout=self.timeout,
                allowed=self.allowed,
                guard=guard,
                progress=self._reporter(job.video_id),
                filename=job.filename,
            )
        except ApiError as exc:
            cancelled = exc.code == ErrorCode.INTERRUPTED
            self._fail(job.video_id, INTERRUPTED if cancelled else f"download failed: {exc}")
            return
        finally:
            guard.close()
        try:
            # what an upload gets at the API, a download gets here: not media, no audio, or
            # longer than allowed ends FAILED now rather than in the transcription worker
            check_duration(
                probe_stored(self.store, received.ref, received.filename), self.max_media_seconds
            )
        except MediaError as exc:
            discard(self.session_factory, self.store, received.ref)
            self._fail(job.video_id, f"the downloaded file cannot be used: {exc}")
            return
        except StorageError as exc:
            discard(self.session_factory, self.store, received.ref)
            self._fail(job.video_id, f"download failed: {exc}; retry to download it again")
            return
        try:
            with db_session_context(self.session_factory) as session:
                VideoService(session).complete_download(job.video_id, received.ref, received.size)
        except (VideoStateError, VideoNotFoundError) as exc:
            # the video moved on meanwhile (failed at shutdown, or by a sweep): not ours now
            log.info("download of video %s not stored: %s", job.video_id, exc)
            discard(self.session_factory, self.store, received.ref)
            return
        except BaseException:
            discard(self.session_factory, self.store, received.ref)
            raise
        log.info("downloaded video %s (%d bytes)", job.video_id, received.size)
        if self.on_registered is not None:
            self.on_registered()

    def _reporter(self, video_id: str) -> Callable[[int, int | None], None]:
        """Bytes so far / declared length into the video's stage progress, at most once per
        `progress_interval` (it is a write, and it doubles as the heartbeat)."""
        last = 0.0

        def report(done: int, length: int | None) -> None:
            nonlocal last
            now = time.monotonic()
            if not length or now - last < self.progress_interval:
                return
            last = now
            with db_session_context(self.session_factory) as session:
                VideoService(session).set_progress(
                    video_id, min(100.0, 100.0 * done / length), VideoStatus.DOWNLOADING
                )

        return report

    def _fail(self, video_id: str, reason: str) -> None:
        try:
            with db_session_context(self.session_factory) as session:
                VideoService(session).fail(
                    video_id, "download", reason, allowed={VideoStatus.DOWNLOADING}
                )
        except (VideoStateError, VideoNotFoundError):
            pass  # already failed (at shutdown) or gone
        except Exception:
            log.exception("download of video %s: could not record the failure", video_id)

    # --- liveness across processes ---------------------------------------------------------

    def _keep(self) -> None:
        while not self._stopping.wait(self.heartbeat_seconds):
            try:
                with self._lock:
                    mine = set(self._mine)
                with db_session_context(self.session_factory) as session:
                    DownloadService(session).heartbeat(mine)
                self._sweep()
            except Exception:
                log.exception("downloads: heartbeat failed; trying again")

    def _sweep(self) -> None:
        cutoff = utcnow() - timedelta(seconds=self.stale_after_seconds)
        with self._lock:
            mine = set(self._mine)
        with db_session_context(self.session_factory) as session:
            failed = DownloadService(session).fail_abandoned(cutoff, ABANDONED, keep=mine)
        if failed:
            log.warning(
                "downloads: %d video(s) left DOWNLOADING by a stopped server failed", failed
            )
