"""The media store's contract. A stored file is named by its *reference*, the text kept in
`videos.media_path`: an absolute path for the local directory, `s3://bucket/key` for a bucket.

Writing streams (`writer`): nothing is held whole in memory; a writer that is not committed is
aborted and leaves nothing behind. Reading for decoding (`local_copy`) gives a path: the file
itself when it is local, else a scratch copy that is removed when the block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

from vidigest.common.exceptions import StorageError, StorageUnavailableError

__all__ = ["MediaStore", "MediaWriter", "StorageError", "StorageUnavailableError"]


class MediaWriter(Protocol):
    """One file being written: `write` chunks, then `commit` (the reference) or `abort`."""

    @property
    def ref(self) -> str: ...

    @property
    def size(self) -> int: ...

    def write(self, data: bytes) -> None: ...

    def commit(self) -> str: ...

    def abort(self) -> None: ...


class MediaStore(Protocol):
    kind: str  # "local" or "s3"

    def owns(self, ref: str) -> bool:
        """True for a reference this store wrote (a file registered in place is not ours)."""
        ...

    def writer(self, name: str) -> MediaWriter:
        """A new file named `name` (already safe, fits a directory entry)."""
        ...

    def put_file(self, source: Path, name: str) -> str:
        """Copy a local file in; its reference."""
        ...

    def local_copy(self, ref: str) -> contextlib.AbstractContextManager[Path]:
        """A local path of `ref` for the block's duration (MediaNotFoundError if missing)."""
        ...

    def open(self, ref: str) -> IO[bytes]:
        """A seekable binary reader of `ref` (for probing without a copy)."""
        ...

    def size(self, ref: str) -> int | None:
        """Bytes of `ref`; None when it does not exist."""
        ...

    def iter_range(self, ref: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes `start` to `end` inclusive, in chunks."""
        ...

    def presigned_url(self, ref: str, seconds: int, *, filename: str, media_type: str) -> str:
        """A URL a browser may GET `ref` from for `seconds` (bucket stores only)."""
        ...

    def delete(self, ref: str) -> None:
        """Remove `ref` (and its folder); no error when it is already gone. Raises
        StorageUnavailableError / StorageError when the store cannot do it now."""
        ...

    def list_refs(self) -> Iterator[str]:
        """Every stored file's reference."""
        ...

    def check(self) -> None:
        """Raise StorageUnavailableError / StorageError if the store cannot be used."""
        ...
