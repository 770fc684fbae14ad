"""A real S3-compatible server for tests: `moto_server` (PyPI `moto[server]`) on loopback.

It keeps its objects in its own process, so a tansu broker with `s3://` storage keeps its
topics, records and committed offsets across a broker restart as long as this server runs:

    with S3Server() as s3:
        bucket = s3.create_bucket("tansu")
        with TansuBroker(f"s3://{bucket}/", env=s3.client_env()) as broker:
            ...
            broker.restart()  # same port, same data

tansu 0.6.0 talks to S3 through the Rust `object_store` crate, configured from the standard
variables (`client_env()`): AWS_ENDPOINT (plain http needs AWS_ALLOW_HTTP=true), the static
credentials and the region. The bucket must exist before the broker starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tests.support.ports import free_port

ACCESS_KEY = "vidigest-test"
SECRET_KEY = "vidigest-test-secret"
REGION = "us-east-1"


class S3StartError(RuntimeError):
    pass


class S3Server:
    """Starts `moto_server -H 127.0.0.1 -p PORT` (as `python -m moto.server`); stops it on exit."""

    def __init__(self, *, start_timeout: float = 30.0, attempts: int = 3) -> None:
        self.start_timeout = start_timeout
        self.attempts = attempts
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._log: IO[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise S3StartError("S3 server not started")
        return f"http://127.0.0.1:{self.port}"

    def client_env(self) -> dict[str, str]:
        """The environment an S3 client (tansu, boto3, ...) needs to use this server."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def start(self) -> S3Server:
        self._tmp = tempfile.TemporaryDirectory(prefix="moto-")
        errors: list[str] = []
        for _ in range(self.attempts):
            port = free_port()
            ok, why = self._try_start(port)
            if ok:
                return self
            errors.append(f"port {port}: {why}")
        raise S3StartError("moto_server did not start: " + "; ".join(errors))

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> S3Server:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _try_start(self, port: int) -> tuple[bool, str]:
        assert self._tmp is not None
        self.log_path = Path(self._tmp.name) / f"moto-{port}.log"
        self._log = self.log_path.open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                # moto answers its own dashboard-free health path; any HTTP answer means ready
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/data.json", timeout=1)
            except urllib.error.HTTPError:
                pass
            except OSError:
                time.sleep(0.1)
                continue
            if proc.poll() is None:
                self._proc, self.port = proc, port
                return True, ""
            break
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            why = f"not answering after {self.start_timeout}s"
        else:
            why = f"exited with status {proc.returncode}"
        self._log.close()
        self._log = None
        return False, why
