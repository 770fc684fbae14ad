"""Registration sources: the public-address policy on resolved addresses, and real downloads
from a local HTTP server (a policy that admits exactly that server's address stands in for
"a public host", so redirects to other addresses are checked for real)."""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import os
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from vidigest.http.errors import ApiError
from vidigest.modules.videos.sources import (
    MAX_PARTS,
    NAME_MAX_BYTES,
    IPAddress,
    ReceivedUpload,
    display_name,
    fetch_url,
    open_beneath,
    public_address,
    readable,
    receive_multipart,
    resolve_server_path,
    safe_filename,
    storage_name,
    store_server_file,
)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.9.9.9",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",  # AWS metadata over IPv6
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
        "ff02::1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        # NAT64, well-known prefix (RFC 6052): judged by the IPv4 address in its last 32 bits
        "64:ff9b::7f00:1",  # 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # 169.254.169.254, cloud metadata
        "64:ff9b::a00:7",  # 10.0.0.7
        "64:ff9b::c000:aa",  # 192.0.0.170, NAT64 prefix discovery
        # NAT64 local-use prefix (RFC 8215): network-specific, refused whatever it carries
        "64:ff9b:1::a00:7",
        "64:ff9b:1::808:808",
        # IPv4-compatible (deprecated): refused whatever it carries
        "::127.0.0.1",
        "::a9fe:a9fe",
        "::8.8.8.8",
        # IETF protocol assignments and the deprecated 6to4 relay anycast
        "192.0.0.1",
        "192.0.0.9",
        "192.0.0.170",
        "192.88.99.1",
        # 6to4 and Teredo carrying non-public IPv4 addresses
        "2002:a9fe:a9fe::1",
        "2002:a00:7::1",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        # not global unicast
        "2001:db8::1",
        "100::1",
        "::ffff:0:a00:7",  # IPv4-translated 10.0.0.7
    ],
)
def test_transition_forms_and_special_ranges_are_refused(address: str) -> None:
    assert not public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "8.8.8.8",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # DNS64's answer for an IPv4-only public host
        "2002:808:808::1",  # 6to4 of a public address
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert public_address(ipaddress.ip_address(address))


def test_safe_filename() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\me\\talk.mp4") == "talk.mp4"
    assert safe_filename("a\x00b\nc.mp4") == "a_b_c.mp4"
    assert safe_filename("..") == "upload"
    assert safe_filename(None) == "upload"
    long = "会" * 300 + ".mp4"
    assert safe_filename(long) == "会" * 196 + ".mp4"  # cut to 200 characters, extension kept


def test_display_name_is_the_name_as_given() -> None:
    given = "Q&A session (part 1) \u2013 \u00c4rger's talk #2.mp4"
    assert display_name(given) == given
    assert display_name("C:\\Users\\me\\" + given) == given  # only the last component
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("a\x00b\n\u202ec.mp4") == "a b c.mp4"  # no control/bidi characters
    assert display_name("  two   spaces .mp4 ") == "two spaces .mp4"
    assert display_name("..") == "upload" and display_name(None) == "upload"
    assert display_name("a" * 296 + ".mp4") == "a" * 196 + ".mp4"  # cut, extension kept
    assert storage_name(given) == "Q_A session (part 1) _ \u00c4rger_s talk _2.mp4"  # on disk


def test_storage_name_fits_a_directory_entry(tmp_path: Path) -> None:
    """200 CJK characters are 600 bytes: the stored name is cut by bytes, at a character
    boundary, keeping the extension, and the file system takes it."""
    name = "会議の記録" * 40 + ".m4a"
    stored = storage_name(name)
    assert len(stored.encode("utf-8")) <= NAME_MAX_BYTES
    assert stored.endswith(".m4a") and stored.startswith("会議の記録")
    stored.encode("utf-8").decode("utf-8")  # no half character
    (tmp_path / stored).write_bytes(b"x")
    assert storage_name("talk.mp4") == "talk.mp4"
    assert storage_name("é" * 300) == "é" * 127  # no extension: 254 bytes


def test_readable_names() -> None:
    """A file-system name that is not UTF-8 (bytes carried as surrogates) becomes text that
    encodes; a valid name is unchanged."""
    undecodable = os.fsdecode(b"caf\xe9-\xff.wav")
    assert readable(undecodable) == "caf\ufffd-\ufffd.wav"
    readable(undecodable).encode("utf-8")
    assert readable("café.wav") == "café.wav"


def test_server_path_resolution(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.mp4").write_bytes(b"x")
    (tmp_path / "b.mp4").write_bytes(b"x")
    (root / "loop").symlink_to(root / "loop")
    assert resolve_server_path("a.mp4", [root]) == (root / "a.mp4").resolve()
    for refused in ("../b.mp4", str(tmp_path / "b.mp4"), "loop"):
        with pytest.raises(ApiError) as caught:
            resolve_server_path(refused, [root])
        assert caught.value.status == 403
    with pytest.raises(ApiError):
        resolve_server_path("a.mp4", [])  # no roots: disabled


# --- server paths: what was checked is what is used ----------------------------------------------


@pytest.fixture
def root_and_secret(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    (root / "talks").mkdir(parents=True)
    (root / "talks" / "swap.wav").write_bytes(b"the checked file")
    secret = tmp_path / "secret.db"
    secret.write_bytes(b"SQLite format 3\x00 secret rows")
    return root, secret


def test_a_swap_after_registration_changes_nothing(
    root_and_secret: tuple[Path, Path], tmp_path: Path
) -> None:
    root, secret = root_and_secret
    original = root / "talks" / "swap.wav"
    inode, origin = original.stat().st_ino, str(original.resolve())
    stored = store_server_file("talks/swap.wav", [root], tmp_path / "storage")
    original.unlink()
    original.symlink_to(secret)  # the swap
    assert stored.path.is_relative_to(tmp_path / "storage")
    assert stored.path.read_bytes() == b"the checked file"
    assert stored.path.stat().st_ino == inode  # same file system: the very inode, linked
    assert (stored.filename, stored.origin) == ("swap.wav", origin)


def test_a_swap_between_check_and_open_is_refused(root_and_secret: tuple[Path, Path]) -> None:
    """resolve_server_path checks; open_beneath opens without following links, so a link put
    in place in between (on the file or on a directory above it) is refused, never opened."""
    root, secret = root_and_secret
    checked = resolve_server_path("talks/swap.wav", [root])
    checked.unlink()
    checked.symlink_to(secret)
    with pytest.raises(ApiError) as caught:
        open_beneath(checked, root.resolve())
    assert caught.value.status == 403

    checked.unlink()
    checked.write_bytes(b"x")
    checked = resolve_server_path("talks/swap.wav", [root])
    (root / "talks").rename(root / "moved")
    (root / "talks").symlink_to(secret.parent)  # a directory component swapped for a link
    (secret.parent / "swap.wav").write_bytes(b"outside the root")
    with pytest.raises(ApiError) as caught:
        open_beneath(checked, root.resolve())
    assert caught.value.status == 403


def test_another_file_system_gets_a_copy(root_and_secret: tuple[Path, Path]) -> None:
    """No hard link across file systems: the opened file is copied, from its descriptor."""
    root, _ = root_and_secret
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == root.stat().st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's tmp_path")
    storage = shm / f"vidigest-test-{os.getpid()}"
    try:
        stored = store_server_file(str(root / "talks" / "swap.wav"), [root], storage)
        assert stored.path.read_bytes() == b"the checked file"
        assert stored.path.stat().st_ino != (root / "talks" / "swap.wav").stat().st_ino
    finally:
        shutil.rmtree(storage, ignore_errors=True)


# --- multipart: limits hold while parsing --------------------------------------------------------


def _field(name: str, value: bytes = b"v") -> bytes:
    return (
        b'--xyz\r\nContent-Disposition: form-data; name="'
        + name.encode()
        + b'"\r\n\r\n'
        + value
        + b"\r\n"
    )


FILE_PART = (
    b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    + b"RIFF" * 100
    + b"\r\n"
)


class CountingBody:
    """An async body of one part per chunk, made as it is read: counts what the parser took."""

    def __init__(self, first: list[bytes], field: Any, count: int) -> None:
        self.first, self.field, self.count = first, field, count
        self.read = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        for part in self.first:
            self.read += 1
            yield part
        for i in range(self.count):
            self.read += 1
            yield self.field(i)
        yield b"--xyz--\r\n"


def _receive(body: CountingBody, storage: Path, fields: Any = ("language", "model")) -> Any:
    return asyncio.run(
        receive_multipart(
            "multipart/form-data; boundary=xyz", None, body.chunks(), storage, 10**9, fields
        )
    )


@pytest.mark.parametrize(
    "field",
    [
        lambda i: _field(f"f{i}", b"x" * 1000),  # unknown names
        lambda i: _field("language", b"en"),  # a known name, repeated
    ],
    ids=["unknown", "repeated"],
)
@pytest.mark.parametrize("file_first", [False, True])
def test_a_flood_of_fields_is_refused_at_once(tmp_path: Path, field: Any, file_first: bool) -> None:
    """150,000 small fields: refused at the first one that breaks the rules, the rest of the
    body never read, and no file left in storage (even when the file part came first)."""
    body = CountingBody([FILE_PART] if file_first else [], field, 150_000)
    with pytest.raises(ApiError) as caught:
        _receive(body, tmp_path / "storage")
    assert caught.value.status == 422
    assert "unknown form field" in caught.value.message or "twice" in caught.value.message
    assert body.read <= 3
    assert [p for p in (tmp_path / "storage").rglob("*")] == []


def test_the_number_of_parts_is_capped(tmp_path: Path) -> None:
    names = [f"f{i}" for i in range(100)]
    body = CountingBody([], lambda i: _field(f"f{i}"), 100)
    with pytest.raises(ApiError) as caught:
        _receive(body, tmp_path / "storage", fields=names)
    assert caught.value.status == 413 and f"at most {MAX_PARTS}" in caught.value.message
    assert body.read == MAX_PARTS + 1


def test_part_headers_are_capped(tmp_path: Path) -> None:
    long_header = b"--xyz\r\nX-Pad: " + b"a" * 100_000 + b"\r\n"
    body = CountingBody([long_header], lambda i: b"a" * 1000, 10_000)
    with pytest.raises(ApiError) as caught:
        _receive(body, tmp_path / "storage")
    assert caught.value.status == 422
    assert body.read <= 2


def test_nothing_after_the_closing_boundary_is_read(tmp_path: Path) -> None:
    epilogue = CountingBody(
        [FILE_PART, _field("language", b"en"), b"--xyz--\r\n"], lambda i: b"junk" * 256, 10_000
    )
    got = _receive(epilogue, tmp_path / "storage")
    assert isinstance(got, ReceivedUpload) and got.fields == {"language": "en"}
    assert epilogue.read == 3


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.routes = {}
    _Handler.hits = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def only_the_test_server(ip: IPAddress) -> bool:
    return ip == ipaddress.ip_address("127.0.0.1") or public_address(ip)


def test_download_and_size_cap(server: str, tmp_path: Path) -> None:
    _Handler.routes["/talk.mp4"] = (200, {}, b"m" * 5000)
    _Handler.routes["/hop"] = (302, {"Location": "/talk.mp4"}, b"")
    got = fetch_url(
        f"{server}/hop", tmp_path, max_bytes=10_000, timeout=10, allowed=only_the_test_server
    )
    assert got.path.read_bytes() == b"m" * 5000 and got.filename == "talk.mp4"
    assert _Handler.hits == ["/hop", "/talk.mp4"]
    with pytest.raises(ApiError) as caught:
        fetch_url(
            f"{server}/talk.mp4", tmp_path, max_bytes=1000, timeout=10, allowed=only_the_test_server
        )
    assert caught.value.status == 413
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["talk.mp4"]


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.2:{port}/x", "http://10.0.0.7/"],
)
def test_redirect_to_a_private_address_is_refused(server: str, tmp_path: Path, target: str) -> None:
    port = server.rsplit(":", 1)[1]
    _Handler.routes["/start"] = (301, {"Location": target.format(port=port)}, b"")
    with pytest.raises(ApiError) as caught:
        fetch_url(
            f"{server}/start", tmp_path, max_bytes=1000, timeout=10, allowed=only_the_test_server
        )
    assert caught.value.status == 403 and "not a public address" in caught.value.message
    assert _Handler.hits == ["/start"]
    assert list(tmp_path.iterdir()) == []


def test_the_default_policy_refuses_the_local_server(server: str, tmp_path: Path) -> None:
    with pytest.raises(ApiError) as caught:
        fetch_url(f"{server}/talk.mp4", tmp_path, max_bytes=1000, timeout=10)
    assert caught.value.status == 403
    assert _Handler.hits == []


def test_redirect_loop_is_cut(server: str, tmp_path: Path) -> None:
    _Handler.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    with pytest.raises(ApiError) as caught:
        fetch_url(
            f"{server}/loop", tmp_path, max_bytes=1000, timeout=10, allowed=only_the_test_server
        )
    assert "redirects" in caught.value.message
