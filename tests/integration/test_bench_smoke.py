"""The benchmarks run (at a tiny size) and print their ratio tables. Speed itself is measured by
`make bench`, not here: a timed assertion on a shared machine would only be noise."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BENCH = Path(__file__).resolve().parents[2] / "bench"
RATIO_ROW = re.compile(r"\s\d+\.\d{2,3}(\s|$)")


@pytest.mark.parametrize(
    ("script", "rows"),
    [
        (
            "messaging.py",
            [
                "raw confluent-kafka producer, cold (baseline)",
                "outbox relay, cold, batches 100 growing",
                "raw confluent-kafka producer, warm (baseline)",
                "outbox relay, warm, batches 100 growing",
                "handler+inbox+outbox, no-op, 100 msgs/transaction",
                "handler+inbox+outbox, no-op, 1 transaction/msg",
            ],
        ),
        (
            "pipeline.py",
            [
                "faster-whisper alone (base)",
                "vidigest process, no spk",
                "vidigest process, speakers",
                "through Kafka",
            ],
        ),
        ("api.py", ["GET /health/live (baseline)", "GET /videos/{id}/transcript"]),
        ("storage.py", ["write", "copy", "range"]),
        (
            "webhooks.py",
            [
                "direct signed POSTs, no keep-alive (baseline)",
                "fan-out: events -> delivery rows",
                "dispatcher: claim, POST, record, until delivered",
            ],
        ),
    ],
)
def test_bench_runs_and_prints_ratios(script: str, rows: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for row in rows:
        (line,) = [ln for ln in result.stdout.splitlines() if row in ln]
        assert RATIO_ROW.search(line), line
    if script == "messaging.py":
        assert "2.00 SQL statements/message" in result.stdout
