"""The local directory store (the default): each file in a directory of its own under
`data_dir/media`; its reference is its absolute path."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from vidigest.common.exceptions import MediaNotFoundError, StorageError

CHUNK = 256 * 1024


class _LocalWriter:
    def __init__(self, root: Path, name: str) -> None:
        self._dir = root / uuid.uuid4().hex
        self._dir.mkdir(parents=True)
        self._path = self._dir / name
        try:
            self._file: IO[bytes] | None = self._path.open("xb")
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self._size = 0

    @property
    def ref(self) -> str:
        return str(self._path)

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        assert self._file is not None, "write after commit or abort"
        self._file.write(data)
        self._size += len(data)

    def commit(self) -> str:
        if self._file is not None:
            self._file.close()
            self._file = None
        return str(self._path)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        shutil.rmtree(self._dir, ignore_errors=True)


class LocalStore:
    kind = "local"

    def __init__(self, root: Path, *, scratch_dir: Path | None = None) -> None:
        self.root = root.absolute()
        self.scratch_dir = scratch_dir

    def _resolved_root(self) -> Path:
        return self.root.resolve()

    def owns(self, ref: str) -> bool:
        if not ref or ref.startswith("s3://"):
            return False
        root = self._resolved_root()
        folder = Path(ref).resolve().parent
        return folder != root and folder.is_relative_to(root)

    def writer(self, name: str) -> _LocalWriter:
        return _LocalWriter(self.root, name)

    def put_file(self, source: Path, name: str) -> str:
        writer = self.writer(name)
        try:
            writer.commit()
            shutil.copyfile(source, writer.ref)
        except BaseException:
            writer.abort()
            raise
        return writer.ref

    @contextlib.contextmanager
    def local_copy(self, ref: str) -> Iterator[Path]:
        yield Path(ref)

    def open(self, ref: str) -> IO[bytes]:
        try:
            return Path(ref).open("rb")
        except FileNotFoundError as exc:
            raise MediaNotFoundError(Path(ref).name, ref) from exc

    def size(self, ref: str) -> int | None:
        path = Path(ref)
        return path.stat().st_size if path.is_file() else None

    def iter_range(self, ref: str, start: int, end: int) -> Iterator[bytes]:
        with Path(ref).open("rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0 and (chunk := f.read(min(CHUNK, left))):
                left -= len(chunk)
                yield chunk

    def presigned_url(self, ref: str, seconds: int, *, filename: str, media_type: str) -> str:
        raise StorageError("a local directory has no presigned URLs")

    def delete(self, ref: str) -> None:
        """The directory holding `ref`, if it is ours; a file registered in place stays."""
        if not self.owns(ref):
            return
        folder = Path(ref).resolve().parent
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(f"could not delete a stored file: {exc.strerror}") from exc

    def list_refs(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir():
                for entry in sorted(folder.iterdir()):
                    if entry.is_file():
                        yield str(entry.absolute())

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise StorageError("the media directory is not writable")
