"""`vidigest serve` over a fresh data directory, and the Debian chromium's
launch arguments: for the browser tests (Playwright drives the chromium Debian installs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.paths import REPO
from tests.support.serve import vidigest_serve

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
    `directory / "data"`; yields its base URL once ready. `env_overrides`: more VIDIGEST_*
    settings."""
    with vidigest_serve(directory / "data", **env_overrides) as base:
        yield base
