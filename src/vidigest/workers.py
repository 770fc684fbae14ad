"""Distributed mode: one stage's worker or the relay per process, and `run-all` to supervise
them. (A *worker* is the Kafka loop consuming one stage's topic, and the process running it.)

Every process stops cleanly on SIGINT/SIGTERM: the in-flight message is finished (its offset
committed) or handed back uncommitted, so the next owner processes it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from prometheus_client import start_http_server

from vidigest.app import Vidigest
from vidigest.common.constants import DEAD_LETTER_TOPIC
from vidigest.common.exceptions import ConfigurationError
from vidigest.common.stages import STAGES
from vidigest.config import Settings
from vidigest.messaging.delivery import Backoff
from vidigest.messaging.relay import OutboxRelay

log = logging.getLogger(__name__)

RELAY = "relay"
WEBHOOKS = "webhooks"
PROCESSES = (*STAGES, RELAY, WEBHOOKS)  # what `vidigest worker NAME` runs


def stop_on_signals() -> threading.Event:
    """An event set by the first SIGINT/SIGTERM (the second one exits at once)."""
    stop = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)
        log.info("signal %d: finishing the message in flight, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop


def _require_kafka(settings: Settings) -> None:
    if settings.embedded:
        raise ConfigurationError(
            "distributed mode needs VIDIGEST_KAFKA_BOOTSTRAP (and VIDIGEST_DATABASE_URL)"
        )


def run_worker(
    settings: Settings, stage_name: str, stop: threading.Event, metrics_port: int | None = None
) -> None:
    """The worker of the stage `stage_name`: a Kafka loop feeding the stage's handler."""
    from vidigest.providers.kafka.consumer import KafkaWorker

    _require_kafka(settings)
    if stage_name not in STAGES:
        raise ConfigurationError(
            f"unknown stage {stage_name!r}; expected one of {', '.join(STAGES)}"
        )
    stage = STAGES[stage_name]
    if metrics_port:
        start_http_server(metrics_port, addr="0.0.0.0")
    vidigest = Vidigest.open(settings)
    try:
        KafkaWorker(
            settings,
            [settings.topic(topic) for topic in stage.topics],
            vidigest.handler(stage),
            settings.topic(DEAD_LETTER_TOPIC),
            group_id=f"{settings.consumer_group}.{stage.consumer}",
            name=stage.consumer,
        ).run(stop)
    finally:
        vidigest.close()


def run_relay(settings: Settings, stop: threading.Event, metrics_port: int | None = None) -> None:
    from vidigest.providers.kafka.producer import KafkaPublisher

    _require_kafka(settings)
    if metrics_port:
        start_http_server(metrics_port, addr="0.0.0.0")
    vidigest = Vidigest.open(settings)
    publisher = KafkaPublisher(settings, client_id="vidigest-relay")
    sweeper = vidigest.deletion_sweeper()  # the outbox of stored files to delete, too
    sweeper.start()
    try:
        OutboxRelay(
            vidigest.database.session_factory,
            publisher,
            batch_size=settings.relay_batch_size,
            max_batch_size=settings.relay_max_batch_size,
            topic_prefix=settings.topic_prefix,
        ).run(stop, poll_seconds=settings.relay_poll_seconds)
    finally:
        sweeper.stop()
        publisher.close()
        vidigest.close()


def run_webhooks(
    settings: Settings, stop: threading.Event, metrics_port: int | None = None
) -> None:
    """The webhook fan-out (a Kafka loop in its own consumer group over the events webhooks
    are made of) and the dispatcher that sends the deliveries (a thread beside it)."""
    from vidigest.modules.webhooks.fanout import CONSUMED, CONSUMER
    from vidigest.providers.kafka.consumer import KafkaWorker

    _require_kafka(settings)
    if metrics_port:
        start_http_server(metrics_port, addr="0.0.0.0")
    vidigest = Vidigest.open(settings)
    dispatcher = vidigest.webhook_dispatcher()
    dispatcher.start()
    try:
        KafkaWorker(
            settings,
            [settings.topic(e.topic) for e in CONSUMED],
            vidigest.webhook_fanout(dispatcher.wake),
            settings.topic(DEAD_LETTER_TOPIC),
            group_id=f"{settings.consumer_group}.{CONSUMER}",
            name=CONSUMER,
        ).run(stop)
    finally:
        dispatcher.stop()
        vidigest.close()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_this_process() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get SIGTERM when this process dies, however it
    dies (SIGKILL and the OOM killer included), so a supervisor killed hard leaves no orphan
    workers behind. Linux only (prctl); elsewhere None: children outlive a killed supervisor."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork, called after
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the supervisor died before the line above took effect
            os._exit(1)

    return arm


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)


class Supervisor:
    """Runs each process as a child, restarts one that dies (with backoff), stops all cleanly.

    The restart delay is the message-retry formula (`Backoff`): 0.5 s, 1 s, 2 s, ... up to
    `max_backoff`, counted from the child's last healthy run."""

    def __init__(
        self,
        children: list[Child],
        *,
        grace_seconds: float = 30.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.children = children
        self.grace_seconds = grace_seconds
        self.backoff = Backoff(0.5, max_backoff)
        self._preexec = die_with_this_process()

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                now = time.monotonic()
                for child in self.children:
                    self._tend(child, now)
                stop.wait(0.2)
        finally:
            self._stop_all()

    def _tend(self, child: Child, now: float) -> None:
        if child.process is not None:
            code = child.process.poll()
            if code is None:
                return
            # a child that ran for a minute was healthy: restart it quickly again
            if now - child.started_at > 60:
                child.restarts = 0
            child.restarts += 1
            delay = self.backoff.seconds(child.restarts)
            log.warning("%s exited with %s; restarting in %.1fs", child.name, code, delay)
            child.process = None
            child.next_start = now + delay
        if now >= child.next_start:
            child.process = subprocess.Popen(child.command, preexec_fn=self._preexec)
            child.started_at = now
            log.info("started %s (pid %d)", child.name, child.process.pid)

    def _stop_all(self) -> None:
        running = [c for c in self.children if c.process and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs; killing it", child.name, self.grace_seconds)
                child.process.kill()
                child.process.wait()


def run_all_children(counts: dict[str, int], metrics_base_port: int | None = None) -> list[Child]:
    children: list[Child] = []
    for name in PROCESSES:
        for i in range(counts.get(name, 1)):
            command = [sys.executable, "-m", "vidigest", "worker", name]
            if metrics_base_port:
                command += ["--metrics-port", str(metrics_base_port + len(children))]
            children.append(Child(f"{name}-{i + 1}", command))
    return children
