"""HTTP API benchmark: latency of reading a transcript, and memory during a large upload.

    .venv/bin/python bench/api.py [--requests 2000] [--concurrency 8] [--upload-mb 500] [--smoke]

Starts `vidigest serve` on a loopback port (embedded mode, temporary data directory), uploads
samples/librivox_speech.mp4 and waits for it to complete. Then, in the same run:
  latency  p50/p99 of GET /videos/{id}/transcript  vs GET /health/live (the baseline: the same
           server, routing and middleware, no database read, no rendering)
  memory   the server's peak RSS while a large file is streamed to POST /videos  vs its RSS just
           before (the file is random bytes: refused with 415 once probed, and removed)
Every request loop is bounded in count and time, and only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.ports import free_port  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def latencies(url: str, requests: int, concurrency: int, seconds: float) -> list[float]:
    times: list[float] = []
    deadline = time.monotonic() + seconds
    remaining = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline and next(remaining, None) is not None:
            started = time.perf_counter()
            response = await client.get(url)
            response.raise_for_status()
            times.append(time.perf_counter() - started)

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return times


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def random_chunks(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        size = min(chunk, total - sent)
        yield os.urandom(size)
        sent += size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--upload-mb", type=int, default=500)
    parser.add_argument("--smoke", action="store_true", help="tiny run: checks the bench works")
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.upload_mb = 100, 20

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "VIDIGEST_DATA_DIR": tmp,
            "HF_HUB_OFFLINE": "1",
            "VIDIGEST_MAX_UPLOAD_BYTES": str((args.upload_mb + 10) << 20),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "vidigest", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if client.get("/health/live").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("vidigest serve did not start")
                    time.sleep(0.2)
                sample = REPO / "samples" / "librivox_speech.mp4"
                with sample.open("rb") as handle:
                    created = client.post("/videos", files={"file": (sample.name, handle)})
                created.raise_for_status()
                video_id = created.json()["id"]
                deadline = time.monotonic() + 300
                while client.get(f"/videos/{video_id}").json()["status"] != "COMPLETED":
                    if time.monotonic() > deadline:
                        raise SystemExit("the sample did not complete in 300 s")
                    time.sleep(0.5)

            rows = []
            for label, path in (
                ("GET /health/live (baseline)", "/health/live"),
                ("GET /videos/{id}/transcript", f"/videos/{video_id}/transcript"),
            ):
                times = asyncio.run(
                    latencies(base + path, args.requests, args.concurrency, args.seconds)
                )
                rows.append((label, len(times), percentile(times, 50), percentile(times, 99)))

            before = peak = rss_mib(server.pid)
            done = threading.Event()

            def sample_rss() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, rss_mib(server.pid))
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample_rss)
            sampler.start()
            with httpx.Client(base_url=base, timeout=600) as client:
                size = args.upload_mb << 20
                boundary = "vidigestbench"
                head = (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                    f'filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n'
                ).encode()
                tail = f"\r\n--{boundary}--\r\n".encode()

                def body() -> Iterator[bytes]:
                    yield head
                    yield from random_chunks(size)
                    yield tail

                response = client.post(
                    "/videos",
                    content=body(),
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                )
            done.set()
            sampler.join()
        finally:
            server.terminate()
            server.wait(30)

    print(f"requests per run: {args.requests}, concurrency {args.concurrency}")
    print(f"{'measure':<34}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}{'p50 ratio':>11}")
    base_p50 = rows[0][2]
    for label, n, p50, p99 in rows:
        print(f"{label:<34}{n:>6}{p50:>9.1f}{p99:>9.1f}{p50 / base_p50:>11.2f}")
    print(
        f"upload of {args.upload_mb} MB: HTTP {response.status_code}; server RSS "
        f"{before:.0f} MiB before, {peak:.0f} MiB peak (ratio {peak / before:.2f})"
    )


if __name__ == "__main__":
    main()
