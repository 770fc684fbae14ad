"""A video's stored file: probing it where it is (an upload is checked before its video is
registered), its deletion after its video through an outbox (`media_deletions`), and the check
that finds files without a video and videos without a file.

`queue_deletion` writes the row in the caller's transaction (the one deleting the video, or
discarding a file whose registration failed); `purge` deletes queued files from the store and
their rows, leaving a row whose deletion failed for the next sweep (`DeletionSweeper`, run by
the API and the relay), so a store that is down never loses a deletion.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vidigest.common.exceptions import MediaError, StorageError
from vidigest.common.text import user_reason
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.http.errors import media_problem
from vidigest.media.probe import MediaInfo, check_duration, probe_media
from vidigest.modules.videos.models import MediaDeletion, Video
from vidigest.modules.videos.sources import ReceivedUpload, store_failure
from vidigest.storage import MediaStore

log = logging.getLogger(__name__)


def probe_stored(store: MediaStore, ref: str, name: str) -> MediaInfo:
    """`probe_media` of a stored file: a local one where it is, an object through ranged
    reads (the header and the index only: no copy)."""
    if not ref.startswith("s3://"):
        return probe_media(ref)
    with store.open(ref) as reader:
        return probe_media(reader, name)


def check_upload(store: MediaStore, received: ReceivedUpload, max_seconds: float) -> MediaInfo:
    """Refuse at once what no worker could decode, or would decode for longer than
    `max_seconds`, as the API answers it (`media_problem`); a store that fails meanwhile is
    `store_failure` (503: try again), as when the upload itself fails."""
    try:
        return check_duration(probe_stored(store, received.ref, received.filename), max_seconds)
    except MediaError as exc:
        raise media_problem(exc) from exc
    except StorageError as exc:
        raise store_failure(exc) from exc


def queue_deletion(session: Session, store: MediaStore, ref: str) -> MediaDeletion | None:
    """Queue `ref` for deletion in the caller's transaction (nothing for a file the store
    did not write, e.g. one registered in place)."""
    if not ref or not store.owns(ref):
        return None
    row = MediaDeletion(media_path=ref, attempts=0)
    session.add(row)
    session.flush()
    return row


def purge(session_factory: SessionFactory, store: MediaStore, *, limit: int = 100) -> int:
    """Delete up to `limit` queued files (oldest first); the number deleted. A file the store
    cannot delete now keeps its row (attempts counted, the reason kept)."""
    with db_session_context(session_factory) as session:
        rows = [
            (row.id, row.media_path)
            for row in session.scalars(
                select(MediaDeletion).order_by(MediaDeletion.id).limit(limit)
            )
        ]
    return sum(_delete_queued(session_factory, store, row_id, ref) for row_id, ref in rows)


def purge_one(session_factory: SessionFactory, store: MediaStore, row_id: int) -> bool:
    """Delete one queued file now (right after its video's delete); False if it stays queued."""
    with db_session_context(session_factory) as session:
        row = session.get(MediaDeletion, row_id)
        ref = row.media_path if row is not None else None
    return ref is None or _delete_queued(session_factory, store, row_id, ref)


def _delete_queued(
    session_factory: SessionFactory, store: MediaStore, row_id: int, ref: str
) -> bool:
    """Delete one queued file and its row; False when the store cannot now (the row stays for
    the sweeper, its attempt counted and the reason kept)."""
    try:
        store.delete(ref)
    except StorageError as exc:
        log.warning("media deletion %d: the store could not delete it now: %s", row_id, exc)
        with db_session_context(session_factory) as session:
            row = session.get(MediaDeletion, row_id)
            if row is not None:
                row.attempts += 1
                row.last_error = user_reason(str(exc))
        return False
    with db_session_context(session_factory) as session:
        session.execute(delete(MediaDeletion).where(MediaDeletion.id == row_id))
    return True


def discard(session_factory: SessionFactory, store: MediaStore, ref: str) -> None:
    """Remove a stored file whose registration failed: at once, else through the outbox."""
    try:
        store.delete(ref)
        return
    except StorageError as exc:
        log.warning("could not discard a stored file now, queued: %s", exc)
    try:
        with db_session_context(session_factory) as session:
            queue_deletion(session, store, ref)
    except Exception:
        log.exception("could not queue a stored file for deletion; `storage check` lists it")


class DeletionSweeper:
    """A daemon thread that purges queued deletions every `interval` seconds."""

    def __init__(
        self, session_factory: SessionFactory, store: MediaStore, interval: float = 30.0
    ) -> None:
        self.session_factory = session_factory
        self.store = store
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="vidigest-media-sweeper", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                purge(self.session_factory, self.store)
            except Exception as exc:  # the database is down: next round
                log.warning("media deletions: sweep failed, trying again: %r", exc)


@dataclass
class StorageReport:
    objects: int = 0
    orphan_objects: list[str] = field(default_factory=list)  # stored, no video, not queued
    missing_media: list[str] = field(default_factory=list)  # video ids whose file is gone
    pending_deletions: int = 0

    @property
    def clean(self) -> bool:
        return not self.orphan_objects and not self.missing_media


def check_storage(session_factory: SessionFactory, store: MediaStore) -> StorageReport:
    """Every stored file against every video: files no video points at (and not queued for
    deletion), and videos whose file the store does not have."""
    report = StorageReport()
    with db_session_context(session_factory) as session:
        videos = list(session.execute(select(Video.id, Video.media_path)))
        queued = set(session.scalars(select(MediaDeletion.media_path)))
    report.pending_deletions = len(queued)
    referenced = {ref for _, ref in videos if ref}
    stored = set()
    for ref in store.list_refs():
        report.objects += 1
        stored.add(ref)
        if ref not in referenced and ref not in queued:
            report.orphan_objects.append(ref)
    for video_id, ref in videos:
        if ref and store.owns(ref) and ref not in stored:
            report.missing_media.append(video_id)
    return report
