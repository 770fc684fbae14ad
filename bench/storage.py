"""Media store benchmark: the bucket against the local directory, in the same run.

    .venv/bin/python bench/storage.py [--mib 64] [--videos 6] [--smoke]

Starts its own S3 server (moto_server, on loopback), and for the pipeline part a Kafka-protocol
broker (tansu) and a throwaway PostgreSQL database, then measures:
  write    MiB/s streamed into the store in 256 KiB chunks (a bucket: multipart upload, 8 MiB
           parts), local directory vs bucket
  read     MiB/s of the copy a worker reads (`local_copy`: the file itself locally, a scratch
           copy from the bucket) and of ranged reads (`iter_range`, what /media relays)
  pipeline seconds from the first registration to every video COMPLETED, media in the bucket,
           every process on a data directory of its own, with 1 and with 2 transcription
           workers (speakers off; the workers load their model on the first message, inside
           the timing)
moto_server is a Python process on the same 2 cores: the bucket figures are a floor for a real
store, not a measure of one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import media
from tests.support.cluster import Cluster
from tests.support.kafka_broker import TansuBroker, unique_name
from tests.support.s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server
from tests.support.throwaway_db import throwaway_database

from vidigest.config import Settings
from vidigest.modules.videos.service import VideoService
from vidigest.storage import LocalStore, MediaStore, open_store

MIB = 1024 * 1024
CHUNK = 256 * 1024
SENTENCES = [
    "Honey bees collect nectar from flowers and turn it into honey.",
    "A volcano erupts when magma rises through the crust of the earth.",
    "The first bicycles had no pedals and were pushed along by the feet.",
]


def store_env(s3: S3Server, bucket: str) -> dict[str, str]:
    return {
        "VIDIGEST_STORAGE_URL": f"s3://{bucket}/media",
        "VIDIGEST_STORAGE_ENDPOINT_URL": s3.endpoint,
        "VIDIGEST_STORAGE_REGION": REGION,
        "VIDIGEST_STORAGE_ACCESS_KEY_ID": ACCESS_KEY,
        "VIDIGEST_STORAGE_SECRET_ACCESS_KEY": SECRET_KEY,
        "VIDIGEST_STORAGE_PATH_STYLE": "true",
        "VIDIGEST_SPEAKERS": "off",
    }


def bucket_store(s3: S3Server, data_dir: Path) -> MediaStore:
    bucket = s3.create_bucket(f"bench-{uuid.uuid4().hex[:10]}")
    env = store_env(s3, bucket)
    fields = {k[len("VIDIGEST_") :].lower(): v for k, v in env.items()}
    return open_store(Settings(data_dir=data_dir, **fields))


def throughput(store: MediaStore, mib: int) -> dict[str, float]:
    block = os.urandom(CHUNK)
    started = time.perf_counter()
    writer = store.writer("bench.bin")
    for _ in range(mib * MIB // CHUNK):
        writer.write(block)
    ref = writer.commit()
    write = mib / (time.perf_counter() - started)
    started = time.perf_counter()
    with store.local_copy(ref) as path, path.open("rb") as f:
        while f.read(4 * MIB):
            pass
    copy = mib / (time.perf_counter() - started)
    started = time.perf_counter()
    size = sum(len(c) for c in store.iter_range(ref, 0, mib * MIB - 1))
    assert size == mib * MIB
    ranged = mib / (time.perf_counter() - started)
    store.delete(ref)
    return {"write": write, "copy": copy, "range": ranged}


def pipeline(
    s3: S3Server, broker: TansuBroker, url: str, work: Path, clips: list[Path], workers: int
) -> float:
    bucket = s3.create_bucket(f"bench-{uuid.uuid4().hex[:10]}")
    run_dir = work / f"run{workers}"
    run_dir.mkdir()
    cluster = Cluster(url, broker.bootstrap, run_dir, unique_name("bs"), store_env(s3, bucket))
    try:
        assert cluster.cli("topics", "create").returncode == 0

        def disk(name: str) -> dict[str, str]:
            (run_dir / name).mkdir()
            return {"VIDIGEST_DATA_DIR": str(run_dir / name)}

        asr = [
            cluster.start("worker", "transcription", name=f"asr{i}", env=disk(f"asr{i}"))
            for i in range(workers)
        ]
        cluster.start("worker", "summary", env=disk("summary"))
        cluster.start("worker", "relay", env=disk("relay"))
        cluster.wait_until(
            lambda: all("assigned" in w.log_text() for w in asr), 90, "workers assigned"
        )
        fields = {k[len("VIDIGEST_") :].lower(): v for k, v in cluster.extra_env.items()}
        store = open_store(Settings(data_dir=run_dir / "submit", **fields))
        started = time.perf_counter()
        ids = []
        for clip in clips:
            ref = store.put_file(clip, clip.name)
            with cluster.database.session() as session:
                ids.append(
                    VideoService(session)
                    .register(media_path=ref, source_type="upload", source_uri=clip.name)
                    .id
                )
        cluster.wait_terminal(ids, timeout=600)
        elapsed = time.perf_counter() - started
        assert set(cluster.statuses().values()) == {"COMPLETED"}, cluster.statuses()
        return elapsed
    finally:
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no pipeline")
    args = parser.parse_args()
    mib = 8 if args.smoke else args.mib
    with TemporaryDirectory() as tmp, S3Server() as s3:
        work = Path(tmp)
        local = throughput(LocalStore(work / "local"), mib)
        bucket = throughput(bucket_store(s3, work / "scratch-host"), mib)
        print(f"store throughput, {mib} MiB (MiB/s)")
        print(f"{'':8}{'local':>10}{'bucket':>10}{'bucket/local':>14}")
        for what in ("write", "copy", "range"):
            ratio = bucket[what] / local[what]
            print(f"{what:8}{local[what]:10.1f}{bucket[what]:10.1f}{ratio:14.3f}")
        if args.smoke:
            return
        clips = [media.speech(work, SENTENCES[i % len(SENTENCES)]) for i in range(args.videos)]
        with TansuBroker() as broker, throwaway_database("vidigest_bench_storage") as url:
            one = pipeline(s3, broker, url, work, clips, 1)
            two = pipeline(s3, broker, url, work, clips, 2)
        print(f"pipeline, {args.videos} videos in the bucket, own data dirs (s to COMPLETED)")
        print(f"1 transcription worker  {one:7.1f}")
        print(f"2 transcription workers {two:7.1f}   speed-up {one / two:.2f}x")


if __name__ == "__main__":
    main()
