"""Media in an S3-compatible bucket, against a real S3 server (moto_server) behind a proxy that
fails on demand the way a store does (connections refused, HTTP 503).

- the bucket store itself: multipart upload in parts, ranged reads, scratch copies removed,
  an aborted upload leaves no object and no parts;
- the API on the bucket: upload streamed in, /media with Range or a presigned 307, delete
  through the outbox of deletions (the store down at delete time: deleted later), an upload
  cut by 503s mid-way leaves nothing;
- distributed, sharing nothing but PostgreSQL, the broker and the bucket: the submitting CLI
  and every worker process have their own empty data directory; the store down while a worker
  needs the media is an outage (retried, not counted, nothing dead-lettered), and when it is
  back every video ends COMPLETED with no orphan file.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support import media
from tests.support.cluster import Cluster
from tests.support.fault_proxy import FaultProxy
from tests.support.s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server
from vidigest.config import Settings
from vidigest.http.main import create_app
from vidigest.modules.videos.media_files import check_storage, purge
from vidigest.storage import StorageUnavailableError
from vidigest.storage.s3 import S3Store

pytestmark = [pytest.mark.integration]

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture
def proxy(s3: S3Server) -> Iterator[FaultProxy]:
    assert s3.port is not None
    with FaultProxy(s3.port) as fault:
        yield fault


@pytest.fixture
def bucket(s3: S3Server) -> str:
    return s3.create_bucket(f"vd-{uuid.uuid4().hex[:12]}")


def store_env(proxy: FaultProxy, bucket: str) -> dict[str, str]:
    return {
        "VIDIGEST_STORAGE_URL": f"s3://{bucket}/media",
        "VIDIGEST_STORAGE_ENDPOINT_URL": proxy.endpoint,
        "VIDIGEST_STORAGE_REGION": REGION,
        "VIDIGEST_STORAGE_ACCESS_KEY_ID": ACCESS_KEY,
        "VIDIGEST_STORAGE_SECRET_ACCESS_KEY": SECRET_KEY,
        "VIDIGEST_STORAGE_PATH_STYLE": "true",
        "VIDIGEST_STORAGE_PART_BYTES": str(5 * MIB),
        "VIDIGEST_STORAGE_TIMEOUT_SECONDS": "2",
    }


def pending_uploads(s3: S3Server, bucket: str) -> list[str]:
    answer = s3.client().list_multipart_uploads(Bucket=bucket)
    return [u["Key"] for u in answer.get("Uploads", [])]


def settings_for(
    proxy: FaultProxy, bucket: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    for name, value in store_env(proxy, bucket).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VIDIGEST_DATA_DIR", str(data_dir))
    monkeypatch.setenv("VIDIGEST_SPEAKERS", "off")
    return Settings()


# --- the store -----------------------------------------------------------------------------------


def test_multipart_upload_ranges_scratch_and_abort(
    s3: S3Server, proxy: FaultProxy, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = S3Store.from_settings(settings_for(proxy, bucket, tmp_path / "d", monkeypatch))
    payload = bytes(range(256)) * (12 * MIB // 256 + 7)  # 3 parts of 5 MiB, the last one short
    writer = store.writer("talk.mp4")
    for at in range(0, len(payload), 256 * 1024):
        writer.write(payload[at : at + 256 * 1024])
        assert len(writer._buffer) < 5 * MIB  # one part in memory at most
    ref = writer.commit()
    assert ref.startswith(f"s3://{bucket}/media/") and ref.endswith("/talk.mp4")
    assert store.size(ref) == len(payload)
    assert (
        b"".join(store.iter_range(ref, 5 * MIB - 3, 5 * MIB + 4))
        == payload[5 * MIB - 3 : 5 * MIB + 5]
    )
    with store.open(ref) as reader:
        reader.seek(-10, 2)
        assert reader.read() == payload[-10:]
    with store.local_copy(ref) as copy:
        assert copy.read_bytes() == payload
        assert copy.is_relative_to(tmp_path / "d" / "scratch")
    assert not copy.exists() and list((tmp_path / "d" / "scratch").iterdir()) == []

    aborted = store.writer("cut.mp4")
    aborted.write(payload[: 6 * MIB])  # one part sent
    assert pending_uploads(s3, bucket) == [aborted.key]
    aborted.abort()
    assert pending_uploads(s3, bucket) == []
    assert [store.ref_of(k) for k in s3.keys(bucket)] == [ref] == list(store.list_refs())

    store.delete(ref)
    store.delete(ref)  # already gone: no error
    assert s3.keys(bucket) == [] and store.size(ref) is None


def test_an_unreachable_or_failing_store_is_an_outage(
    proxy: FaultProxy, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = S3Store.from_settings(settings_for(proxy, bucket, tmp_path / "d", monkeypatch))
    proxy.down()
    with pytest.raises(StorageUnavailableError):
        store.check()
    proxy.answer_503(10)
    with pytest.raises(StorageUnavailableError) as caught:
        store.size(f"s3://{bucket}/media/x/y.wav")
    assert "503" in str(caught.value) and bucket not in str(caught.value)
    proxy.up()
    store.check()


# --- the API on the bucket -----------------------------------------------------------------------


def test_api_upload_media_range_presign_and_delete_through_the_outbox(
    s3: S3Server, proxy: FaultProxy, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = media.speech(tmp_path, "The river flows into the sea near the old harbour.")
    settings = settings_for(proxy, bucket, tmp_path / "api", monkeypatch)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        with clip.open("rb") as f:
            created = client.post("/videos", files={"file": ("river.wav", f, "audio/wav")})
        assert created.status_code == 201, created.text
        video = created.json()
        keys = s3.keys(bucket)
        assert len(keys) == 1 and keys[0].endswith("/river.wav")
        assert not any(p.is_file() for p in (tmp_path / "api" / "media").rglob("*"))

        body = clip.read_bytes()
        whole = client.get(f"/videos/{video['id']}/media")
        assert whole.status_code == 200 and whole.content == body
        assert whole.headers["content-type"].startswith("audio/")
        part = client.get(f"/videos/{video['id']}/media", headers={"Range": "bytes=100-299"})
        assert part.status_code == 206 and part.content == body[100:300]
        assert part.headers["content-range"] == f"bytes 100-299/{len(body)}"
        tail = client.get(f"/videos/{video['id']}/media", headers={"Range": "bytes=-50"})
        assert tail.status_code == 206 and tail.content == body[-50:]
        past = client.get(f"/videos/{video['id']}/media", headers={"Range": f"bytes={len(body)}-"})
        assert past.status_code == 416
        head = client.head(f"/videos/{video['id']}/media", headers={"Range": "bytes=0-9"})
        assert head.status_code == 206 and head.content == b""
        assert head.headers["content-length"] == "10"

        deadline = time.monotonic() + 120
        while client.get(f"/videos/{video['id']}").json()["status"] not in ("COMPLETED", "FAILED"):
            assert time.monotonic() < deadline, "the embedded workers did not finish"
            time.sleep(0.3)
        assert client.get(f"/videos/{video['id']}").json()["status"] == "COMPLETED"
        assert list((tmp_path / "api" / "scratch").iterdir()) == []  # the worker's copy is gone

        proxy.down()  # the store is down when the video is deleted
        assert client.delete(f"/videos/{video['id']}").status_code == 204
        proxy.up()
        assert len(s3.keys(bucket)) == 1  # kept, queued: not lost
        vidigest = client.app.state.vidigest.vidigest  # type: ignore[attr-defined]
        factory = vidigest.database.session_factory
        assert check_storage(factory, vidigest.store).pending_deletions == 1
        assert purge(factory, vidigest.store) == 1
        assert s3.keys(bucket) == []
        report = check_storage(factory, vidigest.store)
        assert report.clean and report.pending_deletions == 0 and report.objects == 0


def test_openai_uploads_go_to_the_bucket_and_a_repeated_one_leaves_no_copy(
    s3: S3Server, proxy: FaultProxy, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = media.speech(tmp_path, "The river flows into the sea near the old harbour.")
    settings = settings_for(proxy, bucket, tmp_path / "api", monkeypatch)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        ids = []
        for _ in range(2):
            with clip.open("rb") as f:
                answer = client.post(
                    "/v1/audio/transcriptions",
                    files={"file": ("river.wav", f, "audio/wav")},
                    data={"model": "whisper-1", "response_format": "json"},
                )
            assert answer.status_code == 200, answer.text
            assert "river" in answer.json()["text"].lower()
            ids.append(answer.headers["x-vidigest-video-id"])
        assert ids[0] == ids[1]  # the same bytes found their video
        keys = s3.keys(bucket)
        assert len(keys) == 1 and keys[0].endswith("/river.wav")  # the repeat's copy is gone
        assert not any(p.is_file() for p in (tmp_path / "api" / "media").rglob("*"))


def test_presigned_media_redirects_to_the_bucket(
    s3: S3Server, proxy: FaultProxy, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib.request

    clip = media.speech(tmp_path, "Short and sweet.")
    monkeypatch.setenv("VIDIGEST_STORAGE_PRESIGN", "true")
    settings = settings_for(proxy, bucket, tmp_path / "api", monkeypatch)
    with TestClient(create_app(settings, run_workers=False), base_url="http://127.0.0.1") as client:
        with clip.open("rb") as f:
            video = client.post("/videos", files={"file": ("s.wav", f, "audio/wav")}).json()
        answer = client.get(f"/videos/{video['id']}/media", follow_redirects=False)
        assert answer.status_code == 307
        location = answer.headers["location"]
        assert location.startswith(proxy.endpoint) and "Signature" in location
        with urllib.request.urlopen(location, timeout=10) as got:
            assert got.read() == clip.read_bytes()
        ready = client.get("/health/ready").json()
        assert {c["name"]: c["ok"] for c in ready["checks"]}["storage"] is True
        proxy.down()
        down = client.get("/health/ready")
        assert down.status_code == 503 and "storage unavailable" in down.json()["error"]["message"]


def _multipart(name: str, size: int) -> bytes:
    head = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="'
        + name.encode()
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    return head + b"\x00" * size + b"\r\n--xyz--\r\n"


def test_an_upload_cut_by_the_store_mid_way_leaves_nothing(
    s3: S3Server, proxy: FaultProxy, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store answers 503 from the second part on (boto3's own retries included): the
    client gets 503, the multipart upload is aborted, no object and no part is left."""
    settings = settings_for(proxy, bucket, tmp_path / "api", monkeypatch)
    with TestClient(create_app(settings, run_workers=False), base_url="http://127.0.0.1") as client:
        store = client.app.state.vidigest.vidigest.store  # type: ignore[attr-defined]
        parts: list[int] = []

        def second_part_fails(params: dict[str, object], **_: object) -> None:
            parts.append(1)
            if len(parts) == 2:
                proxy.answer_503(1000)  # every attempt boto3 makes at part 2

        def store_back(params: dict[str, object], **_: object) -> None:
            proxy.up()  # back in time for the abort

        store.client.meta.events.register("before-call.s3.UploadPart", second_part_fails)
        store.client.meta.events.register("before-call.s3.AbortMultipartUpload", store_back)
        answer = client.post(
            "/videos",
            content=_multipart("big.mp4", 12 * MIB),
            headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        )
    assert answer.status_code == 503, answer.text
    assert "unavailable" in answer.json()["error"]["message"]
    assert bucket not in answer.text
    assert len(parts) == 2
    assert s3.keys(bucket) == [] and pending_uploads(s3, bucket) == []


@pytest.mark.parametrize(
    ("route", "fields"),
    [("/videos", {}), ("/v1/audio/transcriptions", {"model": "whisper-1"})],
)
def test_a_store_down_while_an_upload_is_probed_is_a_503(
    s3: S3Server,
    proxy: FaultProxy,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    route: str,
    fields: dict[str, str],
) -> None:
    """The file is in the bucket, then the store answers 503 while it is probed: the client
    is told to try again (as when the upload itself fails), and the file is removed."""
    settings = settings_for(proxy, bucket, tmp_path / "api", monkeypatch)
    with TestClient(create_app(settings, run_workers=False), base_url="http://127.0.0.1") as client:
        store = client.app.state.vidigest.vidigest.store  # type: ignore[attr-defined]

        def store_down(params: dict[str, object], **_: object) -> None:
            proxy.answer_503(1000)  # every attempt boto3 makes to read it

        def store_back(params: dict[str, object], **_: object) -> None:
            proxy.up()  # back in time for the file's removal

        store.client.meta.events.register("before-call.s3.HeadObject", store_down)
        store.client.meta.events.register("before-call.s3.DeleteObject", store_back)
        answer = client.post(route, files={"file": ("clip.mp4", b"\x00" * 1024)}, data=fields)
    assert answer.status_code == 503, answer.text
    assert "unavailable" in answer.text
    assert s3.keys(bucket) == []


# --- distributed: nothing shared but PostgreSQL, the broker and the bucket ----------------------


SENTENCES = [
    "Honey bees collect nectar from flowers and turn it into honey.",
    "A volcano erupts when magma rises through the crust of the earth.",
    "The first bicycles had no pedals and were pushed along by the feet.",
]


@pytest.mark.slow
def test_workers_with_their_own_disks_share_only_the_bucket(
    cluster: Cluster, s3: S3Server, proxy: FaultProxy, bucket: str, tmp_path: Path
) -> None:
    cluster.extra_env.update(store_env(proxy, bucket))
    cluster.extra_env["VIDIGEST_SPEAKERS"] = "off"

    def own_disk(name: str) -> dict[str, str]:
        path = tmp_path / "hosts" / name
        path.mkdir(parents=True)
        return {"VIDIGEST_DATA_DIR": str(path)}

    clips = [media.speech(tmp_path, sentence) for sentence in SENTENCES]
    submitter = own_disk("submit")
    video_ids = []
    for clip in clips:
        result = cluster.cli("submit", str(clip), env=submitter)
        assert result.returncode == 0, result.stderr
        video_ids.append(result.stdout.strip())
    assert len(s3.keys(bucket)) == len(clips)

    proxy.down()  # the store is out while the workers need the media
    asr = [
        cluster.start("worker", "transcription", name=f"asr{i}", env=own_disk(f"asr{i}"))
        for i in (1, 2)
    ]
    cluster.start("worker", "summary", env=own_disk("summary"))
    cluster.start("worker", "relay", env=own_disk("relay"))
    cluster.wait_until(
        lambda: any("media store unavailable" in w.log_text() for w in asr),
        90,
        "a worker to meet the store outage",
    )
    time.sleep(2)  # several outage retries: none may count as an attempt
    assert not set(cluster.statuses().values()) & {"FAILED", "COMPLETED"}
    proxy.up()
    cluster.wait_terminal(video_ids, timeout=240)
    assert set(cluster.statuses().values()) == {"COMPLETED"}
    assert cluster.count("dead_letters") == 0
    assert cluster.count("transcripts") == len(clips)
    for host in (tmp_path / "hosts").iterdir():  # nothing left on any worker's own disk
        assert not [p for p in host.rglob("*") if p.is_file()], host

    check = cluster.cli("storage", "check", env=own_disk("check"))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no orphans" in check.stdout
