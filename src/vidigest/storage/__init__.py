"""Where media files live: one interface (`MediaStore`), two implementations chosen from
settings: a local directory (the default, what the embedded mode uses) and an S3-compatible
bucket (`VIDIGEST_STORAGE_URL=s3://bucket/prefix`), so that processes on different machines
share nothing but the database, the broker and the bucket."""

from __future__ import annotations

from vidigest.config import Settings
from vidigest.storage.base import MediaStore, MediaWriter, StorageError, StorageUnavailableError
from vidigest.storage.local import LocalStore

__all__ = [
    "LocalStore",
    "MediaStore",
    "MediaWriter",
    "StorageError",
    "StorageUnavailableError",
    "open_store",
]


def open_store(settings: Settings) -> MediaStore:
    """The store `settings` name: the bucket of VIDIGEST_STORAGE_URL, else the local
    directory `data_dir/media`."""
    url = settings.storage_url
    if url is None or url.startswith("file:"):
        return LocalStore(settings.storage_dir, scratch_dir=settings.data_dir / "scratch")
    from vidigest.storage.s3 import S3Store

    return S3Store.from_settings(settings)
