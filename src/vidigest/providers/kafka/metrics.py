"""Prometheus metrics of the Kafka worker (served by `vidigest worker --metrics-port`).

One set of metrics per process, labelled by worker name; `WorkerMetrics` binds the labels once
so the loop does not look them up per message.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from vidigest.messaging.transport import Outcome

MESSAGES = Counter(
    "vidigest_messages",
    "Handler results, one per handler call (a message retried twice counts three times).",
    ["worker", "outcome"],
)
HANDLE_SECONDS = Histogram(
    "vidigest_handle_seconds",
    "Time spent in the handler per call.",
    ["worker"],
    buckets=(0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
CONSUMER_LAG = Gauge(
    "vidigest_consumer_lag",
    "High watermark minus the next offset to process, per partition (from cached watermarks).",
    ["worker", "topic", "partition"],
)


class WorkerMetrics:
    def __init__(self, worker: str) -> None:
        self.worker = worker
        self._messages = {o: MESSAGES.labels(worker, o.value) for o in Outcome}
        self._handle_seconds = HANDLE_SECONDS.labels(worker)

    def handled(self, outcome: Outcome, seconds: float) -> None:
        """One handler call: its outcome as the loop acts on it, and how long it took."""
        self._messages[outcome].inc()
        self._handle_seconds.observe(seconds)

    def lag(self, topic: str, partition: int, lag: int) -> None:
        CONSUMER_LAG.labels(self.worker, topic, str(partition)).set(lag)
