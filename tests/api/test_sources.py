"""Registration sources: the public-address policy on resolved addresses, and real downloads
from a local HTTP server (a policy that admits exactly that server's address stands in for
"a public host", so redirects to other addresses are checked for real)."""

from __future__ import annotations

import http.server
import ipaddress
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vidigest.modules.videos.sources import (
    IPAddress,
    SourceError,
    fetch_url,
    public_address,
    resolve_server_path,
    safe_filename,
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


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert public_address(ipaddress.ip_address(address))


def test_safe_filename() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\me\\talk.mp4") == "talk.mp4"
    assert safe_filename("a\x00b\nc.mp4") == "a_b_c.mp4"
    assert safe_filename("..") == "upload"
    assert safe_filename(None) == "upload"


def test_server_path_resolution(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.mp4").write_bytes(b"x")
    (tmp_path / "b.mp4").write_bytes(b"x")
    (root / "loop").symlink_to(root / "loop")
    assert resolve_server_path("a.mp4", [root]) == (root / "a.mp4").resolve()
    for refused in ("../b.mp4", str(tmp_path / "b.mp4"), "loop"):
        with pytest.raises(SourceError) as caught:
            resolve_server_path(refused, [root])
        assert caught.value.status == 403
    with pytest.raises(SourceError):
        resolve_server_path("a.mp4", [])  # no roots: disabled


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
    with pytest.raises(SourceError) as caught:
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
    with pytest.raises(SourceError) as caught:
        fetch_url(
            f"{server}/start", tmp_path, max_bytes=1000, timeout=10, allowed=only_the_test_server
        )
    assert caught.value.status == 403 and "not a public address" in caught.value.message
    assert _Handler.hits == ["/start"]
    assert list(tmp_path.iterdir()) == []


def test_the_default_policy_refuses_the_local_server(server: str, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        fetch_url(f"{server}/talk.mp4", tmp_path, max_bytes=1000, timeout=10)
    assert caught.value.status == 403
    assert _Handler.hits == []


def test_redirect_loop_is_cut(server: str, tmp_path: Path) -> None:
    _Handler.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    with pytest.raises(SourceError) as caught:
        fetch_url(
            f"{server}/loop", tmp_path, max_bytes=1000, timeout=10, allowed=only_the_test_server
        )
    assert "redirects" in caught.value.message
