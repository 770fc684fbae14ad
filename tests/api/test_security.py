"""The HTTP hardening of issue 10: media types from the container, security headers on every
answer, the Host allow-list and the cross-origin write guard, fail-closed settings and serving,
Swagger UI from a local package, the security log and Content-Disposition for any file name."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from pydantic import ValidationError

from tests import media
from tests.api.conftest import MakeClient, stored_files
from tests.api.test_api import assert_error
from tests.ports import free_port
from vidigest.cli import _refuse_open_serving, is_loopback
from vidigest.common.exceptions import VidigestError
from vidigest.common.types import Segment, Transcript
from vidigest.config import Settings
from vidigest.database.session import Database, db_session_context
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.media_type import playable_media_type
from vidigest.modules.videos.service import VideoService

SCRIPT_TITLE = "<script>alert(document.cookie)</script>"


def assert_hardened(response: Any) -> str:
    """nosniff, no referrer, no framing, a CSP: the headers every answer carries."""
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff", response.request.url
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    policy = str(headers["content-security-policy"])
    assert "frame-ancestors 'none'" in policy
    return policy


def assert_sandboxed(response: Any) -> None:
    policy = assert_hardened(response)
    directives = {d.strip().split(" ")[0] for d in policy.split(";")}
    assert "sandbox" in directives and "default-src 'none'" in policy, policy


@pytest.fixture(scope="module")
def scripted_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Valid MP3 audio whose ID3 title holds a script: an HTML polyglot if served as HTML."""
    directory = tmp_path_factory.mktemp("xss")
    mp3 = media.with_title(media.speech(directory, "hello there", fmt="mp3"), SCRIPT_TITLE)
    assert SCRIPT_TITLE.encode() in mp3.read_bytes()
    return mp3


# --- finding 1: /media type from the probed container, headers on every answer -------------------


@pytest.mark.parametrize("name", ["report.html", "image.svg", "page.xhtml"])
def test_media_type_comes_from_the_container_never_the_name(
    make_client: MakeClient, sqlite_url: str, scripted_mp3: Path, name: str
) -> None:
    client = make_client(sqlite_url)
    with scripted_mp3.open("rb") as handle:
        created = client.post("/videos", files={"file": (name, handle)})
    assert created.status_code == 201, created.text
    video_id = created.json()["id"]

    for headers in ({}, {"Range": "bytes=0-99"}):
        response = client.get(f"/videos/{video_id}/media", headers=headers)
        assert response.status_code in (200, 206), response.text
        assert response.headers["content-type"] == "audio/mpeg"
        assert response.headers["content-disposition"] == f'inline; filename="{name}"'
        assert_sandboxed(response)


def test_media_types_of_common_containers(tmp_path: Path, scripted_mp3: Path) -> None:
    wav = media.speech(tmp_path, "one two three", fmt="wav")
    assert playable_media_type(scripted_mp3) == "audio/mpeg"
    assert playable_media_type(wav) == "audio/wav"
    assert playable_media_type(media.convert(wav, "m4a")) == "audio/mp4"
    assert playable_media_type(media.convert(wav, "ogg")) == "audio/ogg"
    assert playable_media_type(media.convert(wav, "flac")) == "audio/flac"
    assert playable_media_type(media.video_with_audio(tmp_path, wav)) == "video/mp4"
    html = tmp_path / "page.mp4"
    html.write_text("<html><script>alert(1)</script></html>")
    assert playable_media_type(html) is None
    assert playable_media_type(tmp_path / "missing.mp4") is None


def test_a_stored_file_that_is_no_longer_media_is_an_attachment(
    make_client: MakeClient, sqlite_url: str, tmp_path: Path, scripted_mp3: Path
) -> None:
    client = make_client(sqlite_url)
    with scripted_mp3.open("rb") as handle:
        created = client.post("/videos", files={"file": ("talk.mp3", handle)})
    assert created.status_code == 201, created.text
    (stored,) = stored_files(tmp_path / "data")
    stored.write_text("<!doctype html><script>alert(document.cookie)</script>")

    response = client.get(f"/videos/{created.json()['id']}/media")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == 'attachment; filename="talk.mp3"'
    assert_sandboxed(response)


def test_every_answer_carries_the_security_headers(
    make_client: MakeClient, sqlite_url: str
) -> None:
    client = make_client(sqlite_url)
    for path in ("/videos", "/videos/nope", "/nowhere", "/health/live", "/metrics"):
        assert_sandboxed(client.get(path))
    assert_sandboxed(client.get("/openapi.json"))
    assert_sandboxed(client.post("/videos", content=b"x", headers={"Content-Type": "text/plain"}))
    assert_sandboxed(client.get("/videos", headers={"Host": "evil.example"}))  # guard's answer

    page = client.get("/")
    ui_policy = assert_hardened(page)
    assert "default-src 'self'" in ui_policy and "unsafe" not in ui_policy
    assert "sandbox" not in ui_policy


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_the_ui_page_needs_no_inline_script_or_style(
    make_client: MakeClient, sqlite_url: str
) -> None:
    """The UI's policy has no 'unsafe-inline': the page must not need it."""
    html = make_client(sqlite_url).get("/").text
    tags = _tags(html)
    assert all(attrs.get("src") for tag, attrs in tags if tag == "script")
    assert not [tag for tag, _ in tags if tag == "style"]
    assert not [
        tag for tag, attrs in tags if "style" in attrs or any(a.startswith("on") for a in attrs)
    ]


# --- finding 8: fail closed ----------------------------------------------------------------------


def test_keys_that_name_no_key_refuse_to_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="VIDIGEST_API_KEYS is set but names no key"):
        Settings(data_dir=tmp_path, api_keys=" , ")
    assert Settings(data_dir=tmp_path, api_keys="").api_key_list == []
    assert Settings(data_dir=tmp_path, api_keys=" a , b,").api_key_list == ["a", "b"]
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(data_dir=tmp_path, allowed_origins="app.example.com")


def _run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "VIDIGEST_DATA_DIR": str(tmp_path / "data"), **env}
    for name in ("VIDIGEST_API_KEYS", "VIDIGEST_ALLOW_UNAUTHENTICATED", "VIDIGEST_KAFKA_BOOTSTRAP"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "vidigest", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_refuses_blank_keys_and_open_addresses_without_keys(tmp_path: Path) -> None:
    port = str(free_port())
    blank = _run_cli(tmp_path, "serve", "--port", port, VIDIGEST_API_KEYS=" , ")
    assert blank.returncode == 2, blank.stderr
    assert "VIDIGEST_API_KEYS is set but names no key" in blank.stderr
    assert "Traceback" not in blank.stderr

    open_address = _run_cli(tmp_path, "serve", "--host", "0.0.0.0", "--port", port)
    assert open_address.returncode == 1, open_address.stderr
    assert "refusing to serve on 0.0.0.0 without API keys" in open_address.stderr


def test_open_serving_rules(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST."):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.5", "example.com", "localhost.example.com"):
        assert not is_loopback(host), host
    no_keys = Settings(data_dir=tmp_path)
    with pytest.raises(VidigestError, match="VIDIGEST_ALLOW_UNAUTHENTICATED"):
        _refuse_open_serving(no_keys, "0.0.0.0")
    _refuse_open_serving(no_keys, "127.0.0.1")
    _refuse_open_serving(Settings(data_dir=tmp_path, api_keys="k"), "0.0.0.0")
    _refuse_open_serving(Settings(data_dir=tmp_path, allow_unauthenticated=True), "0.0.0.0")


def test_host_allow_list_refuses_dns_rebinding(make_client: MakeClient, sqlite_url: str) -> None:
    # the default list: loopback names and the bind address, never a name the client chose
    client = make_client(sqlite_url, allowed_hosts="")
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "[::1", "a:b:c"):
        error = assert_error(
            client.get("/videos", headers={"Host": host}), 421, "misdirected_request"
        )
        assert "VIDIGEST_ALLOWED_HOSTS" in error["message"]
    assert_error(client.get("/health/live", headers={"Host": "evil.example"}), 421)
    for host in ("127.0.0.1:8000", "localhost", "LOCALHOST:80", "[::1]:8000", "127.0.0.1"):
        assert client.get("/videos", headers={"Host": host}).status_code == 200, host
    assert_error(client.get("/videos"), 421)  # TestClient's "testserver" is not on the list

    named = make_client(sqlite_url, allowed_hosts="vidigest.example.com, *.corp.example")
    for host in ("vidigest.example.com", "a.corp.example:443"):
        assert named.get("/videos", headers={"Host": host}).status_code == 200, host
    for host in ("corp.example", "evil.example"):
        assert_error(named.get("/videos", headers={"Host": host}), 421)

    anything = make_client(sqlite_url, allowed_hosts="*")
    assert anything.get("/videos", headers={"Host": "evil.example"}).status_code == 200


def test_cross_origin_writes_are_refused(
    make_client: MakeClient, sqlite_url: str, tmp_path: Path, scripted_mp3: Path
) -> None:
    client = make_client(sqlite_url, allowed_origins="https://app.example.com")

    def post(headers: dict[str, str]) -> Any:
        with scripted_mp3.open("rb") as handle:
            return client.post("/videos", files={"file": ("a.mp3", handle)}, headers=headers)

    for foreign in (
        {"Origin": "http://evil.example"},
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "null"},
        {"Origin": "http://testserver:8080"},  # another port is another origin
        {"Sec-Fetch-Site": "cross-site"},
    ):
        error = assert_error(post(foreign), 403, "forbidden")
        assert "cross-origin" in error["message"]
    assert_error(client.delete("/videos/x", headers={"Origin": "http://evil.example"}), 403)
    assert_error(client.post("/videos/x/retry", headers={"Origin": "http://evil.example"}), 403)
    assert stored_files(tmp_path / "data") == []
    assert client.get("/videos").json()["total"] == 0

    # same origin (the UI), a listed origin, and clients that are not browsers
    for allowed in (
        {"Origin": "http://testserver"},
        {"Origin": "https://testserver"},  # TLS ended at a proxy: same host
        {"Origin": "https://app.example.com"},
        {"Sec-Fetch-Site": "same-origin"},
        {},
    ):
        assert post(allowed).status_code == 201, allowed
    # reads are not guarded: a foreign page cannot read the answer without CORS
    assert client.get("/videos", headers={"Origin": "http://evil.example"}).status_code == 200


# --- finding 10: Swagger UI from a pinned package ------------------------------------------------


def test_docs_load_nothing_from_another_host(make_client: MakeClient, sqlite_url: str) -> None:
    client = make_client(sqlite_url)
    page = client.get("/docs")
    assert page.status_code == 200
    policy = assert_hardened(page)
    assert "unsafe-inline" not in policy and "'sha256-" in policy
    assert "http://" not in page.text and "https://" not in page.text
    assets = [
        attrs.get("src") or attrs.get("href")
        for tag, attrs in _tags(page.text)
        if tag in ("script", "link") and (attrs.get("src") or attrs.get("href"))
    ]
    assert len(assets) == 3, assets  # the bundle script, the stylesheet, the icon
    for asset in assets:
        assert asset is not None and asset.startswith("/") and not asset.startswith("//"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert_sandboxed(response)
    assert client.get("/redoc").status_code == 404
    assert "/docs-assets" not in client.get("/openapi.json").text


# --- finding 11: the security log ----------------------------------------------------------------


def _security_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "vidigest.security"]


def test_refusals_are_logged_without_secrets(
    make_client: MakeClient, sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(sqlite_url, api_keys="right-key", max_upload_bytes=10_000)
    caplog.set_level(logging.WARNING, logger="vidigest.security")
    key = {"X-API-Key": "right-key"}

    assert_error(client.get("/videos", headers={"X-API-Key": "wrong-secret-key"}), 401)
    client.cookies.set("vidigest_api_key", "cookie-secret")
    assert_error(client.get("/videos"), 401)
    client.cookies.clear()
    assert_error(client.get("/videos", headers={"Host": "evil.example", **key}), 421)
    assert_error(client.post("/videos/x/retry", headers={"Origin": "http://evil.example"}), 403)
    big = tmp_path / "big.wav"
    big.write_bytes(b"body-secret" * 5000)
    with big.open("rb") as handle:
        response = client.post("/videos", files={"file": ("big.wav", handle)}, headers=key)
    assert_error(response, 413)
    text = tmp_path / "notes.mp4"
    text.write_text("body-secret not a video\n" * 100)
    assert_error(_upload_with(client, text, key), 415)
    assert client.get("/videos", headers=key).status_code == 200  # not a refusal: not logged

    records = _security_records(caplog)
    assert [r.status for r in records] == [401, 401, 421, 403, 413, 415]  # type: ignore[attr-defined]
    for record in records:
        assert record.levelno == logging.WARNING
        assert record.client == "testclient"  # type: ignore[attr-defined]
        line = record.getMessage()
        assert "(client testclient)" in line
        for secret in ("right-key", "wrong-secret-key", "cookie-secret", "body-secret"):
            assert secret not in line, line
    assert "'evil.example'" in records[2].getMessage()  # which name to allow, if it is yours
    assert re.search(r"refused 401 unauthorized: GET /videos: ", records[0].getMessage())


def _upload_with(client: Any, path: Path, headers: dict[str, str]) -> Any:
    with path.open("rb") as handle:
        return client.post("/videos", files={"file": (path.name, handle)}, headers=headers)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`vidigest serve` in a subprocess with keys, at the default log level: (base URL, log)."""
    port = free_port()
    env = {
        **os.environ,
        "VIDIGEST_DATA_DIR": str(tmp_path / "data"),
        "VIDIGEST_API_KEYS": "right-key",
        "HF_HUB_OFFLINE": "1",
    }
    for name in ("VIDIGEST_KAFKA_BOOTSTRAP", "VIDIGEST_DATABASE_URL", "VIDIGEST_ALLOWED_HOSTS"):
        env.pop(name, None)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vidigest", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base}/health/live", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "vidigest serve did not become ready"
                time.sleep(0.2)
            yield base, log_path
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_serve_logs_refusals_at_the_default_level(served: tuple[str, Path]) -> None:
    base, log_path = served
    assert httpx.get(f"{base}/videos", headers={"X-API-Key": "wrong-secret"}).status_code == 401
    rebinding = httpx.get(f"{base}/videos", headers={"Host": "evil.example"})
    assert rebinding.status_code == 421
    assert rebinding.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(f"{base}/videos", headers={"X-API-Key": "right-key"}).status_code == 200

    deadline = time.monotonic() + 30
    while True:  # the server writes its log lines as it answers; give the pipe a moment
        lines = [line for line in log_path.read_text().splitlines() if "vidigest.security" in line]
        if len(lines) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(lines) == 2, log_path.read_text()
    assert "WARNING" in lines[0] and "refused 401 unauthorized: GET /videos" in lines[0]
    assert "(client 127.0.0.1)" in lines[0]
    assert "refused 421 misdirected_request" in lines[1]
    assert "wrong-secret" not in log_path.read_text() and "right-key" not in log_path.read_text()


# --- finding 7 (first part): Content-Disposition for any file name -------------------------------


def test_file_names_with_line_breaks_and_non_ascii_download(
    make_client: MakeClient, backend: str, tmp_path: Path, scripted_mp3: Path
) -> None:
    root = tmp_path / "library"
    root.mkdir()
    name = "Talk\r\nX-Injected: 1 \u2013 café 日本.mp3"
    (root / name).write_bytes(scripted_mp3.read_bytes())
    client = make_client(backend, allow_path_registration=True, path_roots=str(root))
    created = client.post("/videos", json={"path": name})
    assert created.status_code == 201, created.text
    video_id = created.json()["id"]
    database = Database(backend)
    try:
        with db_session_context(database.session_factory) as session:
            transcript = Transcript(
                language="en",
                language_probability=1.0,
                duration=1.0,
                model="test",
                segments=(Segment(index=0, start=0.0, end=1.0, text="hello there"),),
            )
            TranscriptService(session).save(video_id, transcript)
            assert VideoService(session).get(video_id).filename == name
    finally:
        database.dispose()

    shown = "Talk__X-Injected: 1 \u2013 café 日本"  # CR and LF cannot end the header
    for fmt in ("srt", "vtt", "txt", "json"):
        response = client.get(
            f"/videos/{video_id}/transcript", params={"format": fmt, "download": "true"}
        )
        assert response.status_code == 200, response.text
        assert "hello there" in response.text
        _assert_disposition(response, "attachment", f"{shown}.{fmt}")
        assert "x-injected" not in response.headers
        assert_sandboxed(response)
    media_response = client.get(f"/videos/{video_id}/media")
    assert media_response.status_code == 200
    assert media_response.headers["content-type"] == "audio/mpeg"
    _assert_disposition(media_response, "inline", f"{shown}.mp3")


def _assert_disposition(response: Any, kind: str, name: str) -> None:
    value = response.headers["content-disposition"]
    assert "\r" not in value and "\n" not in value, value
    assert value.isascii(), value
    match = re.fullmatch(rf'{kind}; filename="([^"\\]+)"; filename\*=UTF-8\'\'(\S+)', value)
    assert match is not None, value
    fallback, encoded = match.groups()
    assert unquote(encoded, errors="strict") == name
    assert fallback == name.replace("\u2013", "_").replace("é", "e").replace("日本", "__").replace(
        ":", "_"
    )
