"""sha256 of model files: streamed, and computed once per process for an unchanged file."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from vidigest.common.exceptions import ModelError

BLOCK = 1 << 20

_cache: dict[tuple[str, int, int, int], str] = {}
_lock = threading.Lock()


def _stat_key(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks; cached per process for an unchanged file (same
    path, size, mtime and inode), so a model is hashed once however often it is resolved."""
    key = _stat_key(path)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    value = digest.hexdigest()
    with _lock:
        _cache[key] = value
    return value


def remember_sha256(path: Path, digest: str) -> None:
    """Record a digest computed while writing `path`, so it is not read again to check it."""
    with _lock:
        _cache[_stat_key(path)] = digest


def verify_sha256(path: Path, expected: str) -> str:
    """Raise ModelError unless the file's sha256 is `expected`; return it."""
    actual = sha256_file(path)
    if actual != expected:
        raise ModelError(
            f"checksum mismatch for {path}: expected sha256 {expected}, actual {actual}; "
            "the model files are corrupt or not the pinned version: reinstall them"
        )
    return actual
