"""The `vidigest` command as a user runs it: a subprocess over one data directory (embedded)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def vidigest_cli(
    *args: str, data_dir: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIDIGEST_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    env.pop("VIDIGEST_DATABASE_URL", None)  # the data directory's SQLite database
    return subprocess.run(
        [sys.executable, "-m", "vidigest", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
