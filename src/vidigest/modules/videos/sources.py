"""Where a video comes from, made safe: a streamed multipart upload, a file under an allowed
server-side root, or an http(s) URL on a public address.

Each one ends as a file in its own directory under the storage directory (uploads, URLs) or
as a checked server path, ready for `VideoService.register()`. Nothing here holds a whole file
in memory.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import socket
import threading
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote

import httpx
from python_multipart.multipart import MultipartParser, parse_options_header

from vidigest.common.exceptions import VidigestError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MULTIPART_OVERHEAD = 1024 * 1024  # form fields and part headers around the file
MAX_FIELD_BYTES = 1024
MAX_REDIRECTS = 5
CHUNK = 256 * 1024


class SourceError(VidigestError):
    """A registration source refused; `status` and `code` say how the API answers."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def too_large(limit: int) -> SourceError:
    return SourceError(
        413, "payload_too_large", f"the file is larger than the limit of {limit} bytes"
    )


# --- names and storage ---------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^\w.\- ()\[\]+,@]+", re.UNICODE)


def safe_filename(name: str | None, default: str = "upload") -> str:
    """The last path component of a client-supplied name, without control or odd characters."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/")).split("/")[-1]
    name = _UNSAFE.sub("_", name).strip(" .")[:200]
    return name or default


def new_storage_dir(storage_dir: Path) -> Path:
    target = storage_dir / uuid.uuid4().hex
    target.mkdir(parents=True)
    return target


def remove_stored_media(storage_dir: Path, media_path: str) -> bool:
    """Delete the directory holding `media_path` if it is one of ours (inside storage_dir);
    a file registered by path belongs to its owner and stays. True if something was removed."""
    root = storage_dir.resolve()
    folder = Path(media_path).resolve().parent
    if folder == root or not folder.is_relative_to(root):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


# --- multipart upload, streamed ------------------------------------------------------------------


@dataclass
class ReceivedUpload:
    path: Path
    filename: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)
    size: int = 0


class _UploadWriter:
    """Callbacks for python-multipart's streaming parser: the part named "file" goes straight
    to disk, small text fields are kept, anything else is refused."""

    def __init__(self, storage_dir: Path, max_bytes: int) -> None:
        self.storage_dir = storage_dir
        self.max_bytes = max_bytes
        self.fields: dict[str, str] = {}
        self.upload: ReceivedUpload | None = None
        self._part = _Part()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._file: IO[bytes] | None = None
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
            raise SourceError(422, "validation_error", "a multipart part without a form name")
        self._part.name = options[b"name"].decode("utf-8", "replace")
        if self._part.name == "file":
            if self.upload is not None:
                raise SourceError(422, "validation_error", "send one file per request")
            raw = options.get(b"filename")
            self._part.filename = safe_filename(raw.decode("utf-8", "replace") if raw else None)
            target = new_storage_dir(self.storage_dir) / self._part.filename
            self._file = target.open("wb")
            self.upload = ReceivedUpload(target, self._part.filename, 0)

    def _data(self, data: bytes, start: int, end: int) -> None:
        self._part.size += end - start
        if self._file is not None:
            if self._part.size > self.max_bytes:
                raise too_large(self.max_bytes)
            self._file.write(data[start:end])
        else:
            if self._part.size > MAX_FIELD_BYTES:
                raise SourceError(
                    413, "payload_too_large", f"form field {self._part.name!r} is too long"
                )
            self._part.data.extend(data[start:end])

    def _part_end(self) -> None:
        if self._file is not None and self.upload is not None:
            self._file.close()
            self._file = None
            self.upload.size = self._part.size
        elif self._part.name is not None:
            self.fields[self._part.name] = self._part.data.decode("utf-8", "replace")

    def _end(self) -> None:
        self.finished = True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        if self.upload is not None:
            shutil.rmtree(self.upload.path.parent, ignore_errors=True)
            self.upload = None


async def receive_multipart(
    content_type: str,
    content_length: str | None,
    chunks: AsyncIterator[bytes],
    storage_dir: Path,
    max_bytes: int,
) -> ReceivedUpload:
    """Stream a multipart/form-data body: the part named "file" is written to a new directory
    under `storage_dir` chunk by chunk; over `max_bytes` the upload stops with 413."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise SourceError(422, "validation_error", "multipart/form-data without a boundary")
    body_limit = max_bytes + MULTIPART_OVERHEAD
    if content_length is not None and content_length.isdigit() and int(content_length) > body_limit:
        raise too_large(max_bytes)
    writer = _UploadWriter(storage_dir, max_bytes)
    try:
        parser = MultipartParser(boundary, writer.callbacks())  # type: ignore[arg-type]
        received = 0
        async for chunk in chunks:
            received += len(chunk)
            if received > body_limit:
                raise too_large(max_bytes)
            parser.write(chunk)
        parser.finalize()
    except SourceError:
        writer.discard()
        raise
    except Exception as exc:  # the parser's own errors: malformed body
        writer.discard()
        raise SourceError(422, "validation_error", f"malformed multipart body: {exc}") from exc
    writer.close()
    upload = writer.upload
    if upload is None or not writer.finished:
        writer.discard()
        raise SourceError(422, "validation_error", "the form has no complete part named 'file'")
    upload.fields = writer.fields
    return upload


# --- a file already on the server ----------------------------------------------------------------


def resolve_server_path(raw: str, roots: list[Path]) -> Path:
    """`raw` resolved (symlinks followed, `..` removed) and required to lie under one of `roots`.
    Relative paths are taken from the first root."""
    if not roots:
        raise SourceError(403, "forbidden", "registering server-side paths is disabled")
    if not raw or "\x00" in raw:
        raise SourceError(422, "validation_error", "path must be a non-empty string")
    resolved_roots = [root.resolve() for root in roots]
    candidate = Path(raw).expanduser()
    if not candidate.is_absolute():
        candidate = resolved_roots[0] / candidate
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise SourceError(403, "forbidden", "path is outside the allowed roots") from exc
    if not any(resolved.is_relative_to(root) for root in resolved_roots):
        raise SourceError(403, "forbidden", "path is outside the allowed roots")
    if not resolved.is_file():
        raise SourceError(404, "not_found", "no such file under the allowed roots")
    return resolved


# --- an http(s) URL ------------------------------------------------------------------------------


def public_address(ip: IPAddress) -> bool:
    """Only globally routable unicast addresses: no loopback, private, link-local (cloud
    metadata at 169.254.169.254), CGNAT, multicast, reserved or unspecified ones."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return public_address(embedded)
    return ip.is_global and not ip.is_multicast


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
        raise SourceError(408, "timeout", f"resolving host {host!r} took too long")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    result: list[Any] = outcome[0]
    return result


def resolve_host(host: str, port: int, timeout: float = DNS_TIMEOUT) -> list[IPAddress]:
    try:
        infos = _getaddrinfo(host, port, min(timeout, DNS_TIMEOUT))
    except (socket.gaierror, UnicodeError) as exc:
        raise SourceError(422, "bad_url", f"cannot resolve host {host!r}") from exc
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
        raise SourceError(422, "bad_url", "only http:// and https:// URLs with a host are accepted")
    if url.userinfo:
        raise SourceError(422, "bad_url", "URLs with credentials are not accepted")
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = resolve_host(url.host, port, timeout)
    for ip in addresses:
        if not allowed(ip):
            raise SourceError(
                403, "forbidden", f"{url.host} resolves to {ip}, which is not a public address"
            )
    if not addresses:
        raise SourceError(422, "bad_url", f"cannot resolve host {url.host!r}")
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
        raise SourceError(422, "bad_url", f"not a valid URL: {exc}") from exc


def _url_filename(url: httpx.URL) -> str:
    return safe_filename(unquote(url.path.rsplit("/", 1)[-1]), default="download")


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
            raise SourceError(503, "interrupted", "download interrupted: the server is stopping")
        if self.timed_out or time.monotonic() >= self.deadline:
            self.timed_out = True
            raise SourceError(408, "timeout", f"the download took longer than {self.timeout:g}s")

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
    storage_dir: Path,
    *,
    max_bytes: int,
    timeout: float,
    allowed: AddressPolicy = public_address,
    guard: DownloadGuard | None = None,
    progress: Progress | None = None,
    filename: str | None = None,
) -> ReceivedUpload:
    """Download `raw_url` into a new directory under `storage_dir` (as `filename`, by default
    the name the final URL ends with).

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
    target_dir = new_storage_dir(storage_dir)
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
                        raise SourceError(
                            422, "bad_url", f"the URL answered HTTP {response.status_code}"
                        )
                    declared = response.headers.get("content-length", "")
                    length = int(declared) if declared.isdigit() else None
                    if length is not None and length > max_bytes:
                        raise too_large(max_bytes)
                    target = target_dir / (filename or _url_filename(url))
                    size = 0
                    with target.open("wb") as out:
                        # each network read as it comes (no chunk size: httpx would wait to
                        # fill it), the deadline checked between reads
                        for chunk in response.iter_raw():
                            guard.check()
                            size += len(chunk)
                            if size > max_bytes:
                                raise too_large(max_bytes)
                            out.write(chunk)
                            if progress is not None:
                                progress(size, length)
                    guard.check()  # a connection cut at the deadline may look like its end
                    return ReceivedUpload(target, target.name, size)
            raise SourceError(422, "bad_url", f"more than {MAX_REDIRECTS} redirects")
    except SourceError:
        shutil.rmtree(target_dir, ignore_errors=True)
        raise
    except httpx.TimeoutException as exc:
        shutil.rmtree(target_dir, ignore_errors=True)
        raise SourceError(408, "timeout", f"the download took longer than {timeout:g}s") from exc
    except (httpx.HTTPError, OSError) as exc:
        shutil.rmtree(target_dir, ignore_errors=True)
        guard.check()  # the guard cut the connection: say why
        raise SourceError(422, "bad_url", f"download failed: {type(exc).__name__}") from exc
    finally:
        if own_guard:
            guard.close()
