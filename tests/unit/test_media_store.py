"""The local media store and the outbox of deletions, on a real SQLite database: what is
written, aborted, deleted and listed, and what `storage check` reports."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vidigest.config import Settings
from vidigest.database.session import Database, db_session_context
from vidigest.modules.videos.media_files import check_storage, purge, queue_deletion
from vidigest.modules.videos.service import VideoService
from vidigest.storage import LocalStore, open_store


def test_local_writer_commit_abort_delete_and_list(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "media")
    writer = store.writer("a.wav")
    writer.write(b"RIFF")
    ref = writer.commit()
    assert Path(ref).read_bytes() == b"RIFF" and store.owns(ref) and store.size(ref) == 4
    assert b"".join(store.iter_range(ref, 1, 2)) == b"IF"
    gone = store.writer("b.wav")
    gone.write(b"x")
    gone.abort()
    assert list(store.list_refs()) == [ref]
    outside = tmp_path / "mine.wav"
    outside.write_bytes(b"x")
    assert not store.owns(str(outside))
    store.delete(str(outside))  # not ours: kept
    assert outside.exists()
    store.delete(ref)
    store.delete(ref)
    assert list(store.list_refs()) == [] and list((tmp_path / "media").iterdir()) == []


def test_storage_url_is_checked_and_chooses_the_store(tmp_path: Path) -> None:
    assert open_store(Settings(data_dir=tmp_path)).kind == "local"
    assert Settings(storage_url="s3://media/a/b/").storage_url == "s3://media/a/b"
    for wrong in ("http://minio/media", "s3://", "media"):
        with pytest.raises(ValidationError, match="VIDIGEST_STORAGE_URL"):
            Settings(storage_url=wrong)


def test_check_finds_orphans_and_the_outbox_deletes(sqlite_db: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "media")
    kept = store.writer("kept.wav")
    kept.write(b"k")
    kept_ref = kept.commit()
    orphan = store.writer("orphan.wav")
    orphan.write(b"o")
    orphan_ref = orphan.commit()
    factory = sqlite_db.session_factory
    with db_session_context(factory) as session:
        video = VideoService(session).register(
            media_path=kept_ref, source_type="upload", source_uri="kept.wav"
        )
        lost = VideoService(session).register(
            media_path=str(tmp_path / "media" / "x" / "lost.wav"),
            source_type="upload",
            source_uri="lost.wav",
        )
    report = check_storage(factory, store)
    assert report.orphan_objects == [orphan_ref] and report.missing_media == [lost.id]
    assert not report.clean

    with db_session_context(factory) as session:  # queued: not an orphan any more
        assert queue_deletion(session, store, orphan_ref) is not None
        assert queue_deletion(session, store, str(tmp_path / "elsewhere.wav")) is None
    assert check_storage(factory, store).orphan_objects == []
    assert purge(factory, store) == 1
    report = check_storage(factory, store)
    assert report.objects == 1 and report.pending_deletions == 0
    assert store.size(kept_ref) == 1 and video.id not in report.missing_media
