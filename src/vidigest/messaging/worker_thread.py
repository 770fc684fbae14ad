"""The embedded workers off the request path: `vidigest serve` without Kafka runs the relay and
both stages in a background thread of the API process.

A registration (or a retry) wakes the thread; it also looks for work every few seconds (events
left by an earlier run, retries), so `vidigest serve` alone is a complete local app and long ASR
work never blocks request handling. In distributed mode there is no such thread: the relay and
the workers are their own processes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from vidigest.messaging.embedded import EmbeddedRuntime

log = logging.getLogger(__name__)


class EmbeddedWorkerThread:
    """Runs the in-process workers (relay + transcription + summary) off the request path.

    `wake()` after a registration; it also looks for work every `poll_seconds` (events left by
    an earlier run, retries). The runtime, and with it the models, is built on first use inside
    the thread, so start-up stays fast.
    """

    def __init__(
        self, make_runtime: Callable[[], EmbeddedRuntime], poll_seconds: float = 5.0
    ) -> None:
        self._make_runtime = make_runtime
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vidigest-workers", daemon=True)
        self.busy = False

    def start(self) -> None:
        self._thread.start()
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        runtime: EmbeddedRuntime | None = None
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.busy = True
            try:
                if runtime is None:
                    runtime = self._make_runtime()
                runtime.run_until_idle()
            except Exception:
                log.exception("embedded workers: run failed; trying again on the next wake-up")
            finally:
                self.busy = False
