"""Registration holds what it checked and refuses early (issue 10): a server path swapped for a
link after registration, a multipart body of many fields, NAT64 and other IPv6 forms of
private addresses, media longer than the limit, and names that are not UTF-8 or too long in
bytes. Real app, real database (SQLite and PostgreSQL where rows matter), real media."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support import media
from tests.support.api import MakeClient, api_settings, assert_error, stored_files, upload
from vidigest.app import Vidigest
from vidigest.common.constants import VideoStatus
from vidigest.database.session import Database, db_session_context
from vidigest.export import describe_video
from vidigest.messaging.models import OutboxEvent
from vidigest.modules.videos.models import Video
from vidigest.modules.videos.service import VideoService


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.tone(tmp_path_factory.mktemp("wav"), 1.0, "wav")


@pytest.fixture(scope="module")
def two_hours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hours of silence in ~1.3 MB of FLAC: what a file declares is no measure of its size."""
    out = tmp_path_factory.mktemp("long") / "two-hours.flac"
    subprocess.run(
        [
            *("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"),
            *("-i", "anullsrc=r=8000:cl=mono", "-t", "7200", "-c:a", "flac", str(out)),
        ],
        check=True,
    )
    return out


def media_dirs(data_dir: Path) -> list[Path]:
    storage = data_dir / "media"
    return list(storage.iterdir()) if storage.exists() else []


# --- 2: a server path is kept as checked ---------------------------------------------------------


def test_a_path_swapped_for_a_link_after_registration_serves_the_original(
    make_client: MakeClient, backend: str, wav: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    swap = root / "swap.wav"
    swap.write_bytes(wav.read_bytes())
    original_bytes, original_inode = swap.read_bytes(), swap.stat().st_ino
    client = make_client(backend, allow_path_registration=True, path_roots=str(root))
    if backend.startswith("sqlite:///"):
        secret = Path(backend.removeprefix("sqlite:///"))  # the database itself
    else:
        secret = tmp_path / "secret.txt"
        secret.write_text("not for the API\n" * 100)
    assert secret.read_bytes() != original_bytes

    created = client.post("/videos", json={"path": "swap.wav"})
    assert created.status_code == 201, created.text
    video = created.json()
    assert video["filename"] == "swap.wav"
    swap.unlink()
    swap.symlink_to(secret)  # the swap

    served = client.get(f"/videos/{video['id']}/media")
    assert served.status_code == 200 and served.content == original_bytes

    database = Database(backend)
    try:
        with database.session() as session:
            row = session.get(Video, video["id"])
            assert row is not None
            media_path = Path(row.media_path)
            payloads = [
                e.payload
                for e in session.scalars(
                    select(OutboxEvent).where(OutboxEvent.aggregate_id == video["id"])
                )
            ]
    finally:
        database.dispose()
    # the worker's input is the stored file, the inode that was checked
    assert [p["payload"]["source_path"] for p in payloads] == [str(media_path)]  # type: ignore[index]
    assert media_path.is_relative_to(tmp_path / "data" / "media")
    assert media_path.read_bytes() == original_bytes
    assert media_path.stat().st_ino == original_inode  # same file system: hard-linked

    # deleting the video removes the stored link, never what the path pointed at
    database = Database(backend)
    try:
        with db_session_context(database.session_factory) as session:
            VideoService(session).fail(video["id"], "transcription", "stopped by the test")
    finally:
        database.dispose()
    assert client.delete(f"/videos/{video['id']}").status_code == 204
    assert not media_path.exists() and media_dirs(tmp_path / "data") == []
    assert swap.is_symlink() and secret.stat().st_size > 0


def test_a_symlink_out_of_the_roots_is_still_refused(
    make_client: MakeClient, sqlite_url: str, wav: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside.wav"
    outside.write_bytes(wav.read_bytes())
    (root / "link.wav").symlink_to(outside)
    client = make_client(sqlite_url, allow_path_registration=True, path_roots=str(root))
    error = assert_error(client.post("/videos", json={"path": "link.wav"}), 403, "forbidden")
    assert str(tmp_path) not in error["message"]
    assert media_dirs(tmp_path / "data") == []


def test_a_path_that_is_not_media_leaves_no_copy(
    make_client: MakeClient, sqlite_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "notes.wav").write_text("not audio\n" * 100)
    client = make_client(sqlite_url, allow_path_registration=True, path_roots=str(root))
    assert_error(client.post("/videos", json={"path": "notes.wav"}), 415)
    assert media_dirs(tmp_path / "data") == [] and (root / "notes.wav").is_file()


# --- 5: multipart bodies of many fields ----------------------------------------------------------


@pytest.mark.parametrize("file_first", [False, True])
def test_a_multipart_flood_is_refused_and_leaves_nothing(
    make_client: MakeClient, sqlite_url: str, wav: Path, tmp_path: Path, file_first: bool
) -> None:
    client = make_client(sqlite_url)
    fields = b"".join(
        b'--xyz\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i
        for i in range(150_000)
    )
    file_part = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        + wav.read_bytes()
        + b"\r\n"
    )
    body = (file_part if file_first else b"") + fields + b"--xyz--\r\n"
    response = client.post(
        "/videos", content=body, headers={"Content-Type": "multipart/form-data; boundary=xyz"}
    )
    error = assert_error(response, 422, "validation_error")
    assert "unknown form field 'f0'" in error["message"]
    assert media_dirs(tmp_path / "data") == []
    assert client.get("/videos").json()["total"] == 0


def test_known_fields_still_register(make_client: MakeClient, sqlite_url: str, wav: Path) -> None:
    client = make_client(sqlite_url)
    created = upload(client, wav, language="en", model="fast")
    assert created.status_code == 201, created.text
    assert (created.json()["language"], created.json()["model"]) == ("en", "fast")
    twice = client.post(
        "/videos",
        files=[
            ("file", ("a.wav", wav.read_bytes())),
            ("language", (None, "en")),
            ("language", (None, "de")),
        ],
    )
    assert "twice" in assert_error(twice, 422, "validation_error")["message"]


# --- 6: NAT64 and other IPv6 forms of private addresses ------------------------------------------


class _Refuser:
    """Counts connection attempts on a loopback port (nothing should ever arrive)."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def attempts(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1


@pytest.fixture
def listener() -> Iterator[_Refuser]:
    refuser = _Refuser()
    yield refuser
    refuser.sock.close()


def test_nat64_and_ipv4_compatible_urls_are_refused_before_connecting(
    make_client: MakeClient, sqlite_url: str, tmp_path: Path, listener: _Refuser
) -> None:
    client = make_client(sqlite_url, allow_url_registration=True)
    port = listener.port
    for url in (
        f"http://[64:ff9b::7f00:1]:{port}/talk.mp4",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 of cloud metadata
        f"http://[64:ff9b:1::7f00:1]:{port}/talk.mp4",  # NAT64 local-use prefix
        f"http://[::127.0.0.1]:{port}/talk.mp4",  # IPv4-compatible
        f"http://[2002:7f00:1::]:{port}/talk.mp4",  # 6to4 of 127.0.0.1
        "http://192.0.0.170/",
    ):
        error = assert_error(client.post("/videos", json={"url": url}), 403, "forbidden")
        assert "not a public address" in error["message"], url
    assert listener.attempts() == 0
    assert media_dirs(tmp_path / "data") == []


# --- 9: media longer than the limit --------------------------------------------------------------


def test_media_longer_than_the_limit_is_refused_at_registration(
    make_client: MakeClient, backend: str, two_hours: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "long.flac").write_bytes(two_hours.read_bytes())
    client = make_client(
        backend, max_media_seconds=600, allow_path_registration=True, path_roots=str(root)
    )
    for response in (upload(client, two_hours), client.post("/videos", json={"path": "long.flac"})):
        error = assert_error(response, 413, "media_too_long")
        assert "2:00:00" in error["message"] and "0:10:00" in error["message"]
        assert str(tmp_path) not in error["message"]
    assert media_dirs(tmp_path / "data") == []
    assert client.get("/videos").json()["total"] == 0

    unlimited = make_client(backend, max_media_seconds=0)
    assert upload(unlimited, two_hours).status_code == 201


def test_the_worker_fails_media_longer_than_the_limit(
    sqlite_url: str, two_hours: Path, tmp_path: Path
) -> None:
    """Registered under no limit (or before the limit was lowered, or from a URL): the
    transcription worker refuses it before decoding, as a permanent failure with a reason."""
    data = tmp_path / "data"
    registrar = Vidigest.open(api_settings(data, sqlite_url, max_media_seconds=0))
    try:
        video = registrar.register_path(two_hours)
    finally:
        registrar.close()
    worker = Vidigest.open(api_settings(data, sqlite_url, max_media_seconds=600, max_attempts=4))
    try:
        worker.embedded_runtime().run_until_idle()
        described = describe_video(worker.database.session_factory, video.id)
    finally:
        worker.close()
    assert described["status"] == VideoStatus.FAILED.value
    assert "2:00:00" in described["error"] and "0:10:00" in described["error"]
    assert "attempt" not in described["error"]  # permanent: not retried
    assert str(two_hours) not in described["error"]


# --- 7: names that are not UTF-8, or too long in bytes -------------------------------------------


def test_a_path_whose_name_is_not_utf8_registers_readably(
    make_client: MakeClient, backend: str, wav: Path, tmp_path: Path
) -> None:
    """JSON cannot carry such a name, but a link inside the root (or a directory) can lead to
    it; the name shown is readable (U+FFFD for each undecodable byte), never a 500."""
    root = tmp_path / "root"
    root.mkdir()
    raw_dir = os.fsencode(root) + b"/\xffdir"
    os.mkdir(raw_dir)
    for name in (b"caf\xe9.wav", b"clip.wav"):
        with open(raw_dir + b"/" + name, "wb") as out:
            out.write(wav.read_bytes())
    os.symlink(raw_dir + b"/caf\xe9.wav", os.fsencode(root / "link.wav"))
    os.symlink(raw_dir, os.fsencode(root / "d"))
    client = make_client(backend, allow_path_registration=True, path_roots=str(root))
    for raw, shown in (("link.wav", "caf\ufffd.wav"), ("d/clip.wav", "clip.wav")):
        created = client.post("/videos", json={"path": raw})
        assert created.status_code == 201, created.text
        assert created.json()["filename"] == shown
    listed = client.get("/videos")
    assert listed.status_code == 200 and listed.json()["total"] == 2
    stored = sorted(p.name for p in stored_files(tmp_path / "data"))
    assert stored == ["caf_.wav", "clip.wav"]


def test_an_upload_whose_name_is_not_utf8_registers_readably(
    make_client: MakeClient, backend: str, wav: Path
) -> None:
    client = make_client(backend)
    part = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="\xff\xfe talk.wav"\r\n'
        b"\r\n" + wav.read_bytes() + b"\r\n--xyz--\r\n"
    )
    created = client.post(
        "/videos", content=part, headers={"Content-Type": "multipart/form-data; boundary=xyz"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["filename"] == "\ufffd\ufffd talk.wav"  # shown as it came, readable


def test_a_long_cjk_name_is_stored_within_the_byte_limit(
    make_client: MakeClient, backend: str, wav: Path, tmp_path: Path
) -> None:
    """200 CJK characters (600 bytes): registered, shown whole, stored under a name that fits
    the file system's 255 bytes; on a refusal no storage path is shown and no directory stays."""
    client = make_client(backend)
    name = "会議の記録" * 39 + "会.wav"  # 200 characters, 600 bytes
    assert len(name) == 200
    created = client.post("/videos", files={"file": (name, wav.read_bytes())})
    assert created.status_code == 201, created.text
    assert created.json()["filename"] == name
    (stored,) = stored_files(tmp_path / "data")
    assert len(stored.name.encode("utf-8")) <= 255 and stored.name.endswith(".wav")

    not_audio = client.post("/videos", files={"file": (name, b"not audio\n" * 100)})
    error = assert_error(not_audio, 415)
    assert str(tmp_path) not in error["message"] and "/media/" not in error["message"]
    assert len(media_dirs(tmp_path / "data")) == 1  # only the registered one


def test_the_cli_registers_a_path_that_is_not_utf8_through_a_copy(
    sqlite_url: str, wav: Path, tmp_path: Path
) -> None:
    """The database stores paths as text: `vidigest process` on such a file registers a copy
    under a readable name (a UTF-8 path is still registered where it is)."""
    raw = os.fsencode(tmp_path) + b"/\xffclip.wav"
    with open(raw, "wb") as out:
        out.write(wav.read_bytes())
    app = Vidigest.open(api_settings(tmp_path / "data", sqlite_url))
    try:
        odd = app.register_path(Path(os.fsdecode(raw)))
        plain = app.register_path(wav)
    finally:
        app.close()
    assert odd.filename == "\ufffdclip.wav" and odd.source_uri.endswith("\ufffdclip.wav")
    assert Path(odd.media_path).is_relative_to(tmp_path / "data" / "media")
    assert Path(odd.media_path).read_bytes() == wav.read_bytes()
    assert plain.media_path == str(wav)
