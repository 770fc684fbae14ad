"""Where a video comes from, made safe: a streamed multipart upload, a file under an allowed
server-side root, or an http(s) URL on a public address.

Each one ends as a file in the media store (`vidigest.storage`: a directory of its own under
the local storage directory, or an object in the bucket), ready for
`VideoService.register()`: what was checked is what the workers read and `/media` serves, even if
the original is replaced later. Nothing here holds a whole file in memory, and no error message
carries a server path.
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import logging
import os
import re
import shutil
import socket
import stat
import threading
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
from python_multipart.multipart import MultipartParser, parse_options_header

from vidigest.common.exceptions import StorageError, StorageUnavailableError
from vidigest.http.errors import ApiError, ErrorCode
from vidigest.storage import LocalStore, MediaStore, MediaWriter

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MULTIPART_OVERHEAD = 1024 * 1024  # form fields and part headers around the file
MAX_FIELD_BYTES = 1024
MAX_PARTS = 16  # parts of one multipart body (the file and a few small fields)
MAX_PART_HEADERS = 8  # header lines of one part
MAX_PART_HEADER_BYTES = 4096  # one header line of a part
MAX_NAME_CHARS = 200  # a name as users see it
NAME_MAX_BYTES = 255  # one directory entry (ext4, xfs, btrfs, tmpfs, APFS): bytes, not characters
MAX_EXTENSION_BYTES = 16
MAX_REDIRECTS = 5
CHUNK = 256 * 1024


def too_large(limit: int) -> ApiError:
    return ApiError(
        ErrorCode.PAYLOAD_TOO_LARGE, f"the file is larger than the limit of {limit} bytes"
    )


# --- names and storage ---------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^\w.\- ()\[\]+,@]+", re.UNICODE)


def readable(name: str) -> str:
    """A name from the file system as text any database, JSON or header accepts.

    Python carries the bytes of a name that is not UTF-8 as lone surrogates (surrogateescape);
    they cannot be encoded again, so storing or returning such a name used to fail with a 500.
    Each undecodable byte becomes U+FFFD; everything else is kept as it is.
    """
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that did not come from the file system
        raw = name.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")


def _cut(name: str, limit: int, size: Callable[[str], int], default: str) -> str:
    """`name` within `limit` as measured by `size`, cut at a character boundary and keeping its
    extension (decoders take it as a hint, and users recognise their file by it)."""
    if size(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if not (stem and 0 < len(extension.encode("utf-8")) <= MAX_EXTENSION_BYTES):
        stem, dot, extension = name, "", ""
    budget = limit - size(dot + extension)
    while stem and size(stem) > budget:
        stem = stem[: max(0, len(stem) - max(1, (size(stem) - budget) // 4))]
    return (stem.rstrip(" .") or default) + dot + extension


def _utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def display_name(name: str | None, default: str = "upload") -> str:
    """The name users see, as they gave it: the last path component, NFC, without control or
    format characters (no bidi overrides), spaces collapsed, at most MAX_NAME_CHARS characters
    with its extension. `&`, `#`, apostrophes, dashes and letters of any script are kept; the
    name on disk is made from it (`storage_name`)."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/")).split("/")[-1]
    name = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in name)
    name = " ".join(name.split())
    return _cut(name, MAX_NAME_CHARS, len, default) if name.strip(" .") else default


def safe_filename(name: str | None, default: str = "upload") -> str:
    """The last path component of a client-supplied name, without control or odd characters,
    at most MAX_NAME_CHARS characters (with its extension)."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/")).split("/")[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    return _cut(name, MAX_NAME_CHARS, len, default) if name else default


def storage_name(name: str | None, default: str = "upload") -> str:
    """The name a file is stored under: `safe_filename(name)` cut to NAME_MAX_BYTES bytes of
    UTF-8, keeping its extension.

    `safe_filename` counts characters: 200 CJK characters are 600 bytes, more than a directory
    entry can hold. The name users see is kept apart (`Video.filename`), uncut.
    """
    return _cut(safe_filename(name, default), NAME_MAX_BYTES, _utf8_bytes, default)


def new_storage_dir(storage_dir: Path) -> Path:
    target = storage_dir / uuid.uuid4().hex
    target.mkdir(parents=True)
    return target


def storage_failure(exc: OSError) -> ApiError:
    """What the client is told when storing a file fails: why, without the server's path (the
    log has it)."""
    log.warning("storing a file failed: %s", exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ApiError(ErrorCode.INSUFFICIENT_STORAGE, "the server has no room to store the file")
    return ApiError(ErrorCode.STORAGE_ERROR, "the server could not store the file")


def as_store(store: MediaStore | Path) -> MediaStore:
    """A store; a bare directory is the local store of that directory."""
    return LocalStore(store) if isinstance(store, Path) else store


def store_failure(exc: StorageError) -> ApiError:
    """What the client is told when the media store fails: unavailable (503, try again) or
    refused (500), without bucket keys or paths (the log has them)."""
    log.warning("the media store failed: %s", exc)
    if isinstance(exc, StorageUnavailableError):
        return ApiError(ErrorCode.BUSY, "the media store is unavailable; try again shortly")
    return ApiError(ErrorCode.STORAGE_ERROR, "the server could not store the file")


def remove_stored_media(store: MediaStore | Path, media_path: str) -> bool:
    """Delete `media_path` if the store wrote it; a file registered in place (by the CLI)
    belongs to its owner and stays. True if it was ours and is gone; False if it is not ours
    or the store could not delete it now (the caller keeps it to retry)."""
    store = as_store(store)
    if not media_path or not store.owns(media_path):
        return False
    try:
        store.delete(media_path)
    except StorageError as exc:
        log.warning("could not delete a stored file now: %s", exc)
        return False
    return True


# --- multipart upload, streamed ------------------------------------------------------------------


@dataclass
class ReceivedUpload:
    ref: str  # the stored file's reference in the media store (its name fits a directory entry)
    filename: str  # the name users see: the client's own (`display_name`), not cut by bytes
    size: int
    fields: dict[str, str] = field(default_factory=dict)
    origin: str | None = None  # where it came from, as readable text (server path registration)
    sha256: str | None = None  # of the uploaded bytes, computed while they were stored
    # fields a form may repeat ("timestamp_granularities[]"), every value in order
    lists: dict[str, list[str]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """The stored file, for a local store."""
        return Path(self.ref)


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)
    size: int = 0


class _UploadWriter:
    """Callbacks for python-multipart's streaming parser: the part named "file" goes straight
    to disk, the small text fields named in `fields` are kept, anything else is refused.

    Every limit holds while parsing, so a body of many small parts costs no memory: at most
    MAX_PARTS parts, each header line and count capped (by the parser), a field's value at
    MAX_FIELD_BYTES; an unknown or repeated field name stops the parse at its headers.
    """

    def __init__(
        self,
        store: MediaStore,
        max_bytes: int,
        fields: Collection[str],
        repeated: Collection[str] = (),
    ) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.repeated = frozenset(repeated)
        self.allowed = frozenset(fields) | self.repeated
        self.fields: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {}
        self._hash = hashlib.sha256()
        self.upload: ReceivedUpload | None = None
        self.parts = 0
        self._part = _Part()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._file: MediaWriter | None = None  # the file part being stored; aborted by discard()
        self._stored: str | None = None  # committed: deleted by discard()
        self.finished = False

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise ApiError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"too many form fields (at most {MAX_PARTS} parts)"
            )
        self._part = _Part()

    def _header_end(self) -> None:
        name = self._header_field.decode("latin-1").strip().lower()
        self._part.headers[name] = self._header_value.decode("latin-1")
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(
            self._part.headers.get("content-disposition", "")
        )
        if disposition != b"form-data" or b"name" not in options:
            raise ApiError(ErrorCode.VALIDATION_ERROR, "a multipart part without a form name")
        name = options[b"name"].decode("utf-8", "replace")
        if name != "file" and name not in self.allowed:
            expected = ", ".join(sorted({"file", *self.allowed}))
            raise ApiError(
                ErrorCode.VALIDATION_ERROR,
                f"unknown form field {name[:64]!r}; the fields are {expected}",
            )
        if name in self.fields or (name == "file" and self.upload is not None):
            # a repeated field keeps each value (in `lists`); any other is refused
            raise ApiError(ErrorCode.VALIDATION_ERROR, f"form field {name!r} is given twice")
        self._part.name = name
        if name == "file":
            raw = options.get(b"filename")
            self._part.filename = display_name(raw.decode("utf-8", "replace") if raw else None)
            try:
                self._file = self.store.writer(storage_name(self._part.filename))
            except OSError as exc:
                raise storage_failure(exc) from exc
            self.upload = ReceivedUpload(self._file.ref, self._part.filename, 0)

    def _data(self, data: bytes, start: int, end: int) -> None:
        self._part.size += end - start
        if self._file is not None:
            if self._part.size > self.max_bytes:
                raise too_large(self.max_bytes)
            chunk = data[start:end]
            self._hash.update(chunk)
            self._file.write(chunk)
        else:
            if self._part.size > MAX_FIELD_BYTES:
                raise ApiError(
                    ErrorCode.PAYLOAD_TOO_LARGE, f"form field {self._part.name!r} is too long"
                )
            self._part.data.extend(data[start:end])

    def _part_end(self) -> None:
        if self._file is not None and self.upload is not None:
            self.upload.ref = self._stored = self._file.commit()
            self._file = None
            self.upload.size = self._part.size
            self.upload.sha256 = self._hash.hexdigest()
        elif self._part.name in self.repeated:
            self.lists.setdefault(self._part.name, []).append(
                self._part.data.decode("utf-8", "replace")
            )
        elif self._part.name is not None:
            self.fields[self._part.name] = self._part.data.decode("utf-8", "replace")

    def _end(self) -> None:
        self.finished = True

    def discard(self) -> None:
        if self._file is not None:
            self._file.abort()
            self._file = None
        if self._stored is not None:
            remove_stored_media(self.store, self._stored)
            self._stored = None
        self.upload = None


async def receive_multipart(
    content_type: str,
    content_length: str | None,
    chunks: AsyncIterator[bytes],
    store: MediaStore | Path,
    max_bytes: int,
    fields: Collection[str] = (),
    repeated: Collection[str] = (),
) -> ReceivedUpload:
    """Stream a multipart/form-data body: the part named "file" is written to the media store
    chunk by chunk (a bucket: a multipart upload, one part in memory at most); over
    `max_bytes` the upload stops with 413 and nothing is left stored. Text fields other than
    `fields` are refused (422) as soon as their headers are read, and reading stops at the
    closing boundary: nothing the client adds after it is read. Fields in `repeated` may come
    several times (each value is kept, in `lists`); the sha256 of the file's bytes is computed
    as they are written (`sha256`)."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(ErrorCode.VALIDATION_ERROR, "multipart/form-data without a boundary")
    body_limit = max_bytes + MULTIPART_OVERHEAD
    if content_length is not None and content_length.isdigit() and int(content_length) > body_limit:
        raise too_large(max_bytes)
    writer = _UploadWriter(as_store(store), max_bytes, fields, repeated)
    try:
        parser = MultipartParser(
            boundary,
            writer.callbacks(),  # type: ignore[arg-type]
            max_header_count=MAX_PART_HEADERS,
            max_header_size=MAX_PART_HEADER_BYTES,
        )
        received = 0
        async for chunk in chunks:
            received += len(chunk)
            if received > body_limit:
                raise too_large(max_bytes)
            parser.write(chunk)
            if writer.finished:
                break
        parser.finalize()
    except ApiError:
        writer.discard()
        raise
    except OSError as exc:  # writing the file
        writer.discard()
        raise storage_failure(exc) from exc
    except StorageError as exc:  # the bucket
        writer.discard()
        raise store_failure(exc) from exc
    except BaseException as exc:
        if not isinstance(exc, Exception):  # cancelled (client gone): nothing left behind
            writer.discard()
            raise
        # the parser's own errors: malformed body
        writer.discard()
        raise ApiError(ErrorCode.VALIDATION_ERROR, f"malformed multipart body: {exc}") from exc
    upload = writer.upload
    if upload is None or not writer.finished:
        writer.discard()
        raise ApiError(ErrorCode.VALIDATION_ERROR, "the form has no complete part named 'file'")
    upload.fields = writer.fields
    upload.lists = writer.lists
    return upload


# --- a file already on the server ----------------------------------------------------------------


def _resolved_roots(roots: list[Path]) -> list[Path]:
    return [root.resolve() for root in roots]


def resolve_server_path(raw: str, roots: list[Path]) -> Path:
    """`raw` resolved (symlinks followed, `..` removed) and required to lie under one of `roots`.
    Relative paths are taken from the first root. A check only: `store_server_file` opens what
    this names without following links, so a swap after the check is refused, not served."""
    if not roots:
        raise ApiError(ErrorCode.FORBIDDEN, "registering server-side paths is disabled")
    if not raw or "\x00" in raw:
        raise ApiError(ErrorCode.VALIDATION_ERROR, "path must be a non-empty string")
    resolved_roots = _resolved_roots(roots)
    candidate = Path(raw).expanduser()
    if not candidate.is_absolute():
        candidate = resolved_roots[0] / candidate
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise ApiError(ErrorCode.FORBIDDEN, "path is outside the allowed roots") from exc
    if not any(resolved.is_relative_to(root) for root in resolved_roots):
        raise ApiError(ErrorCode.FORBIDDEN, "path is outside the allowed roots")
    if not resolved.is_file():
        raise ApiError(ErrorCode.NOT_FOUND, "no such file under the allowed roots")
    return resolved


_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in opens at once (and is refused by fstat) instead of hanging
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def open_beneath(path: Path, root: Path) -> int:
    """A read-only descriptor of `path` (canonical, inside the canonical `root`), opened one
    component at a time from `root` without following any link (what openat2's
    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS does in one call, which Python does not offer).

    `path` was resolved a moment before, so it holds no link: a link met now was put there since
    (ELOOP / ENOTDIR), and what is opened is always a file beneath `root`.
    """
    parts = path.relative_to(root).parts
    if not parts:
        raise ApiError(ErrorCode.NOT_FOUND, "no such file under the allowed roots")
    try:
        directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in parts[:-1]:
                below = os.open(part, _DIRECTORY_FLAGS, dir_fd=directory)
                os.close(directory)
                directory = below
            return os.open(parts[-1], _FILE_FLAGS, dir_fd=directory)
        finally:
            os.close(directory)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise ApiError(ErrorCode.NOT_FOUND, "no such file under the allowed roots") from exc
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ApiError(
                ErrorCode.FORBIDDEN, "path is outside the allowed roots (it changed while checked)"
            ) from exc
        raise ApiError(ErrorCode.FORBIDDEN, "the server cannot read this file") from exc


def _link_open_file(fd: int, target: Path) -> None:
    """Hard-link the inode open at `fd` as `target`: linkat(AT_FDCWD, "/proc/self/fd/N",
    dir, name, AT_SYMLINK_FOLLOW), which needs no privilege (AT_EMPTY_PATH does). Passing a
    directory descriptor makes Python call linkat with AT_SYMLINK_FOLLOW; plain link(2) would
    try to link the /proc entry itself."""
    directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.link(f"/proc/self/fd/{fd}", target.name, dst_dir_fd=directory, follow_symlinks=True)
    finally:
        os.close(directory)


def _store_descriptor(fd: int, store: MediaStore, name: str) -> str:
    """Put the file open at `fd` into the media store as `name`: for a local store a hard
    link to that very inode when the file system allows it (free, instant), else a copy read
    from `fd` (streamed into the bucket for a bucket store)."""
    if isinstance(store, LocalStore):
        return str(_store_descriptor_locally(fd, store.root, name))
    writer = store.writer(name)
    try:
        offset = 0
        while chunk := os.pread(fd, 4 * CHUNK, offset):
            writer.write(chunk)
            offset += len(chunk)
        return writer.commit()
    except OSError as exc:
        writer.abort()
        raise storage_failure(exc) from exc
    except StorageError as exc:
        writer.abort()
        raise store_failure(exc) from exc
    except BaseException:
        writer.abort()
        raise


def _store_descriptor_locally(fd: int, storage_dir: Path, name: str) -> Path:
    try:
        target_dir = new_storage_dir(storage_dir)
    except OSError as exc:
        raise storage_failure(exc) from exc
    target = target_dir / name
    try:
        try:
            _link_open_file(fd, target)
        except OSError:  # another file system (EXDEV), not ours (protected_hardlinks), no /proc
            with target.open("xb") as out:
                offset = 0
                while chunk := os.pread(fd, 4 * CHUNK, offset):
                    out.write(chunk)
                    offset += len(chunk)
    except OSError as exc:
        shutil.rmtree(target_dir, ignore_errors=True)
        raise storage_failure(exc) from exc
    except BaseException:
        shutil.rmtree(target_dir, ignore_errors=True)
        raise
    return target


def store_server_file(raw: str, roots: list[Path], store: MediaStore | Path) -> ReceivedUpload:
    """Register-time half of a server path: check `raw` (`resolve_server_path`), open it
    beneath its root without following links (`open_beneath`), require a regular file, and keep
    that opened file in the storage directory (`_store_descriptor`).

    The video then points at the stored file, so what was checked is what the workers decode
    and `/media` serves: replacing the original by a link to, say, the database afterwards
    changes nothing. `filename` is the file's own name (bytes that are not UTF-8 shown as
    U+FFFD); the stored name is cut to fit a directory entry.
    """
    path = resolve_server_path(raw, roots)
    root = max(
        (r for r in _resolved_roots(roots) if path.is_relative_to(r)), key=lambda r: len(r.parts)
    )
    fd = open_beneath(path, root)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ApiError(ErrorCode.NOT_FOUND, "no such file under the allowed roots")
        name = readable(path.name)
        target = _store_descriptor(fd, as_store(store), storage_name(name, default="media"))
    finally:
        os.close(fd)
    return ReceivedUpload(target, name, info.st_size, origin=readable(str(path)))


# --- an http(s) URL ------------------------------------------------------------------------------


_V6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
# IPv4 ranges Python's `is_global` lets through (3.11 and some later releases) but nobody should
# be sent to: IETF protocol assignments (192.0.0.0/24, some "global" anycast), the deprecated
# 6to4 relay anycast
_V4_REFUSED = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("192.88.99.0/24"))
# NAT64 (RFC 6052 / 8215): the well-known prefix embeds an IPv4 address in its last 32 bits; the
# local-use prefix is specific to one network (where it points cannot be known): refused
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 address(es) an IPv6 transition form carries: IPv4-mapped, NAT64 well-known
    prefix, 6to4, Teredo (server and client); None for an address of no such form."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _NAT64_WELL_KNOWN:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    return None


def public_address(ip: IPAddress) -> bool:
    """Only globally routable unicast addresses: no loopback, private, link-local (cloud
    metadata at 169.254.169.254), CGNAT, multicast, reserved, unspecified or IETF-protocol ones.

    IPv6 must be global unicast (2000::/3) and public by Python's registry, with two transition
    forms that carry an IPv4 address judged by that address: IPv4-mapped (`::ffff:a.b.c.d`) and
    NAT64's well-known prefix (`64:ff9b::a.b.c.d`, what DNS64 answers for IPv4-only hosts on an
    IPv6-only network, where it reaches the IPv4 address behind it). 6to4 and Teredo must carry
    public IPv4 addresses too. Everything else is refused: IPv4-compatible (`::a.b.c.d`,
    deprecated), NAT64 local-use (`64:ff9b:1::/48`), ULA, link-local, documentation ranges.
    """
    if isinstance(ip, ipaddress.IPv4Address):
        return (
            ip.is_global
            and not ip.is_multicast
            and not any(ip in network for network in _V4_REFUSED)
        )
    embedded = _embedded_ipv4(ip)
    if ip.ipv4_mapped is not None or ip in _NAT64_WELL_KNOWN:
        return all(public_address(v4) for v4 in embedded or ())
    if ip not in _V6_GLOBAL_UNICAST or not ip.is_global or ip.is_multicast:
        return False
    return embedded is None or all(public_address(v4) for v4 in embedded)


AddressPolicy = Callable[[IPAddress], bool]


DNS_TIMEOUT = 10.0  # seconds for one name resolution, at most


def _getaddrinfo(host: str, port: int, timeout: float) -> list[Any]:
    """`socket.getaddrinfo` with a time limit: the system resolver has none of its own (a
    dead DNS server holds the caller for its whole retry schedule). It runs in a daemon thread
    that is left behind when it takes too long; it ends with the resolver's own timeout."""
    outcome: list[Any] = []
    done = threading.Event()

    def resolve() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the caller
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=resolve, name="vidigest-dns", daemon=True).start()
    if not done.wait(max(0.0, timeout)):
        raise ApiError(ErrorCode.TIMEOUT, f"resolving host {host!r} took too long")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    result: list[Any] = outcome[0]
    return result


def resolve_host(host: str, port: int, timeout: float = DNS_TIMEOUT) -> list[IPAddress]:
    try:
        infos = _getaddrinfo(host, port, min(timeout, DNS_TIMEOUT))
    except (socket.gaierror, UnicodeError) as exc:
        raise ApiError(ErrorCode.BAD_URL, f"cannot resolve host {host!r}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if ip not in addresses:
            addresses.append(ip)
    return addresses


def check_url(url: httpx.URL, allowed: AddressPolicy, timeout: float = DNS_TIMEOUT) -> IPAddress:
    """The address to connect to for `url`, once every address its host resolves to passed
    (name resolution limited to `timeout` seconds)."""
    if url.scheme not in ("http", "https") or not url.host:
        raise ApiError(ErrorCode.BAD_URL, "only http:// and https:// URLs with a host are accepted")
    if url.userinfo:
        raise ApiError(ErrorCode.BAD_URL, "URLs with credentials are not accepted")
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = resolve_host(url.host, port, timeout)
    for ip in addresses:
        if not allowed(ip):
            raise ApiError(
                ErrorCode.FORBIDDEN, f"{url.host} resolves to {ip}, which is not a public address"
            )
    if not addresses:
        raise ApiError(ErrorCode.BAD_URL, f"cannot resolve host {url.host!r}")
    return addresses[0]


def url_filename(raw_url: str) -> str:
    """The file name a URL's path ends with (what the user knows the download as)."""
    try:
        return _url_filename(httpx.URL(raw_url))
    except (httpx.InvalidURL, TypeError, ValueError):
        return "download"


def parse_url(raw_url: str) -> httpx.URL:
    try:
        return httpx.URL(raw_url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ApiError(ErrorCode.BAD_URL, f"not a valid URL: {exc}") from exc


def _url_filename(url: httpx.URL) -> str:
    return display_name(unquote(url.path.rsplit("/", 1)[-1]), default="download")


class DownloadGuard:
    """One overall deadline, and a cancel switch, for one download, holding on every network
    operation whatever the server does.

    httpx applies its timeout to each read on its own, so a server that drips a byte a second
    keeps a download alive for ever. Here a timer shuts the connection's socket down at the
    deadline (and `cancel()` does at once): a read blocked in the kernel returns that instant,
    and the download ends as a timeout (408) or "download interrupted". The sockets are
    learnt from httpcore's documented `trace` extension as connections open.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.timed_out = False
        self.cancelled = False
        self._lock = threading.Lock()
        self._streams: list[Any] = []
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        self.check()
        return self.deadline - time.monotonic()

    def check(self) -> None:
        """Raise if the download must stop now."""
        if self.cancelled:
            raise ApiError(ErrorCode.INTERRUPTED, "download interrupted: the server is stopping")
        if self.timed_out or time.monotonic() >= self.deadline:
            self.timed_out = True
            raise ApiError(ErrorCode.TIMEOUT, f"the download took longer than {self.timeout:g}s")

    def trace(self, name: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: remember every stream (TCP, then TLS) a connection opens."""
        if name in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            if stream is None:
                return
            with self._lock:
                self._streams.append(stream)
                stop = self.cancelled or self.timed_out
            if stop:
                _shut(stream)

    def cancel(self) -> None:
        self.cancelled = True
        self._interrupt()

    def close(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        self.timed_out = True
        self._interrupt()

    def _interrupt(self) -> None:
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            _shut(stream)


def _shut(stream: Any) -> None:
    """Wake any thread blocked on the stream's socket (shutdown does; close does not)."""
    try:
        sock = stream.get_extra_info("socket")
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


Progress = Callable[[int, int | None], None]  # (bytes so far, declared length or None)


def fetch_url(
    raw_url: str,
    store: MediaStore | Path,
    *,
    max_bytes: int,
    timeout: float,
    allowed: AddressPolicy = public_address,
    guard: DownloadGuard | None = None,
    progress: Progress | None = None,
    filename: str | None = None,
) -> ReceivedUpload:
    """Download `raw_url` into the media store (as `filename`, by default the name the final
    URL ends with), streamed: a bucket gets a multipart upload, aborted if the download fails.

    Every hop (the URL and each redirect) is resolved and checked against `allowed` before
    connecting, and the connection goes to the checked address (the host name travels in the
    Host header and TLS SNI), so a DNS answer cannot change between check and use. Stops with
    413 past `max_bytes` and 408 once `timeout` seconds have passed in all: one deadline for
    name resolution, connecting, every read (see `DownloadGuard`), however the server sends.
    `progress` hears of each read.
    """
    url = parse_url(raw_url)
    own_guard = guard is None
    guard = guard or DownloadGuard(timeout)
    store = as_store(store)
    writer: MediaWriter | None = None
    try:
        with httpx.Client(follow_redirects=False, trust_env=False) as client:
            for _hop in range(MAX_REDIRECTS + 1):
                ip = check_url(url, allowed, guard.remaining())
                remaining = guard.remaining()
                pinned = url.copy_with(host=str(ip))
                host_header = url.netloc.decode("ascii").rsplit("@", 1)[-1]
                extensions: dict[str, Any] = {"trace": guard.trace}
                if url.scheme == "https":
                    extensions["sni_hostname"] = url.host
                with client.stream(
                    "GET",
                    pinned,
                    headers={"Host": host_header, "Accept-Encoding": "identity"},
                    extensions=extensions,
                    timeout=httpx.Timeout(remaining),
                ) as response:
                    guard.check()
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        url = url.join(location)
                        continue
                    if response.status_code != 200:
                        raise ApiError(
                            ErrorCode.BAD_URL, f"the URL answered HTTP {response.status_code}"
                        )
                    declared = response.headers.get("content-length", "")
                    length = int(declared) if declared.isdigit() else None
                    if length is not None and length > max_bytes:
                        raise too_large(max_bytes)
                    name = storage_name(filename or _url_filename(url))
                    writer = store.writer(name)
                    size = 0
                    # each network read as it comes (no chunk size: httpx would wait to
                    # fill it), the deadline checked between reads
                    for chunk in response.iter_raw():
                        guard.check()
                        size += len(chunk)
                        if size > max_bytes:
                            raise too_large(max_bytes)
                        writer.write(chunk)
                        if progress is not None:
                            progress(size, length)
                    guard.check()  # a connection cut at the deadline may look like its end
                    ref = writer.commit()
                    writer = None
                    return ReceivedUpload(ref, name, size)
            raise ApiError(ErrorCode.BAD_URL, f"more than {MAX_REDIRECTS} redirects")
    except ApiError:
        raise
    except StorageError as exc:
        raise store_failure(exc) from exc
    except httpx.TimeoutException as exc:
        raise ApiError(ErrorCode.TIMEOUT, f"the download took longer than {timeout:g}s") from exc
    except (httpx.HTTPError, OSError) as exc:
        guard.check()  # the guard cut the connection: say why
        raise ApiError(ErrorCode.BAD_URL, f"download failed: {type(exc).__name__}") from exc
    finally:
        if writer is not None:  # not committed: nothing left behind
            writer.abort()
        if own_guard:
            guard.close()
