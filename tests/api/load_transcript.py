"""A short bounded loopback load on GET /videos/{id}/transcript; prints p50/p99 latency.

    python -m tests.api.load_transcript http://127.0.0.1:8765 VIDEO_ID [--requests 2000]
        [--concurrency 8] [--seconds 60] [--format json]

Not a test: the figures in docs/api.md come from it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx


async def run(
    base: str, video_id: str, requests: int, concurrency: int, seconds: float, fmt: str
) -> None:
    url = f"{base}/videos/{video_id}/transcript?format={fmt}"
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            response = await client.get(url)
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await client.get(url)  # warm-up
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000
    print(
        f"{len(latencies)} requests, {concurrency} concurrent, {elapsed:.1f}s "
        f"({len(latencies) / elapsed:.0f} req/s), errors {errors}: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("video_id")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--format", default="json")
    args = parser.parse_args()
    asyncio.run(
        run(args.base, args.video_id, args.requests, args.concurrency, args.seconds, args.format)
    )


if __name__ == "__main__":
    main()
