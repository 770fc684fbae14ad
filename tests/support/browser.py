"""`vidigest serve` in a subprocess over a fresh data directory, and the Debian chromium's
launch arguments: for the browser tests (Playwright drives the chromium Debian installs)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.paths import REPO
from tests.support.ports import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / ".test-artifacts"


@contextmanager
def serve(directory: Path, **env_overrides: str) -> Iterator[str]:
    """An embedded `vidigest serve` (SQLite, workers in process) with its data under
    `directory`; yields its base URL once ready. `env_overrides`: more VIDIGEST_* settings."""
    port = free_port()
    env = {
        **os.environ,
        "VIDIGEST_DATA_DIR": str(directory / "data"),
        "HF_HUB_OFFLINE": "1",
    }
    for name in ("VIDIGEST_KAFKA_BOOTSTRAP", "VIDIGEST_DATABASE_URL", "VIDIGEST_API_KEYS"):
        env.pop(name, None)
    env.update(env_overrides)
    log = (directory / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "vidigest", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (directory / "serve.log").read_text()
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
        log.close()
