"""`vidigest serve` in a subprocess, on a free loopback port, until the block ends."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.ports import free_port


@contextmanager
def vidigest_serve(data_dir: Path, **env: str) -> Iterator[str]:
    """Start `vidigest serve` (embedded: SQLite + in-process workers) with `env` added to the
    environment (VIDIGEST_... settings); yield its base URL once /health/ready answers 200."""
    port = free_port()
    full = {**os.environ, "VIDIGEST_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    for name in ("VIDIGEST_KAFKA_BOOTSTRAP", "VIDIGEST_DATABASE_URL", "VIDIGEST_API_KEYS"):
        full.pop(name, None)
    full.update(env)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vidigest", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "vidigest serve did not become ready"
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
