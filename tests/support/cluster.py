"""A vidigest deployment for tests: worker and relay processes started with the real command
line, sharing one PostgreSQL database and one Kafka-protocol broker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text

from tests.support.ports import free_port
from vidigest.common.constants import TERMINAL_STATUSES
from vidigest.database.session import Database
from vidigest.modules.videos.models import Video
from vidigest.modules.videos.service import VideoService


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    metrics_port: int | None = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        assert self.metrics_port is not None
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            body = urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            return 0.0
        return sum(
            sample.value
            for family in text_string_to_metric_families(body)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )


@dataclass
class Cluster:
    database_url: str
    bootstrap: str
    work_dir: Path
    prefix: str
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.database = Database(self.database_url)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "VIDIGEST_DATABASE_URL": self.database_url,
            "VIDIGEST_KAFKA_BOOTSTRAP": self.bootstrap,
            "VIDIGEST_DATA_DIR": str(self.work_dir / "data"),
            "VIDIGEST_TOPIC_PREFIX": f"{self.prefix}.",
            "VIDIGEST_CONSUMER_GROUP": self.prefix,
            "VIDIGEST_TOPIC_PARTITIONS": "4",
            "VIDIGEST_SESSION_TIMEOUT_MS": "2000",
            "VIDIGEST_RELAY_POLL_SECONDS": "0.1",
            "VIDIGEST_RETRY_BACKOFF_SECONDS": "0.2",
            "VIDIGEST_MAX_ATTEMPTS": "3",
            **self.extra_env,
        }

    def topic(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def cli(
        self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vidigest", *args],
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=timeout,
            check=False,
        )

    def start(
        self,
        *args: str,
        name: str | None = None,
        metrics: bool = True,
        env: dict[str, str] | None = None,
    ) -> Proc:
        """`vidigest -v <args>` in the background, its output in a log file (`env` added to
        the cluster's environment, e.g. a data directory of its own)."""
        name = name or "-".join(args)
        command = [sys.executable, "-m", "vidigest", "-v", *args]
        port = free_port() if metrics else None
        if port is not None:
            command += ["--metrics-port", str(port)]
        log = self.work_dir / f"{name}-{len(self.procs)}.log"
        with log.open("wb") as sink:
            popen = subprocess.Popen(  # a process group of its own: close() kills what it spawned
                command,
                env={**self.env, **(env or {})},
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log, port)
        self.procs.append(proc)
        return proc

    def submit(self, path: Path) -> str:
        result = self.cli("submit", str(path))
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def register(self, path: Path) -> str:
        """Register a file in place, in this process (faster than `submit` for many videos)."""
        with self.database.session() as session:
            video = VideoService(session).register(
                media_path=path, source_type="path", source_uri=str(path)
            )
            return video.id

    def statuses(self) -> dict[str, str]:
        with self.database.session() as session:
            return {row.id: row.status for row in session.execute(select(Video.id, Video.status))}

    def status(self, video_id: str) -> str:
        return self.statuses().get(video_id, "missing")

    def count(self, table: str, **where: Any) -> int:
        with self.database.session() as session:
            stmt = select(func.count()).select_from(text(table))
            for column, value in where.items():
                stmt = stmt.where(text(f"{column} = :{column}").bindparams(**{column: value}))
            return int(session.scalar(stmt) or 0)

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            for proc in self.procs:
                code = proc.popen.poll()
                if code not in (None, 0, -signal.SIGKILL, -signal.SIGTERM):
                    raise AssertionError(f"{proc.name} exited {code}:\n{proc.log_text()[-3000:]}")
            time.sleep(0.2)
        logs = "\n".join(f"--- {p.name}\n{p.log_text()[-2000:]}" for p in self.procs)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")

    def wait_terminal(self, video_ids: list[str], timeout: float = 180) -> None:
        self.wait_until(
            lambda: all(self.status(v) in TERMINAL_STATUSES for v in video_ids),
            timeout,
            f"videos {video_ids} to finish",
        )

    def stop(self, proc: Proc, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if proc.popen.poll() is None:
            proc.popen.send_signal(sig)
        return proc.popen.wait(timeout)

    def close(self) -> None:
        """Kill every process started here and whatever they spawned (run-all's children):
        nothing may go on working on the shared database after the test."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(10)
        self.database.dispose()
