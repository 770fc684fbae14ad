"""`KafkaWorker`: the Kafka consumer loop that feeds one handler, one message at a time.

How it works (the pattern of Sentry's arroyo, reduced to one message in flight):

* The handler runs in a helper thread; the loop thread keeps calling `poll()`, so the consumer
  stays in its group however long the work takes (minutes of speech recognition would otherwise
  exceed `max.poll.interval.ms` and get the consumer kicked out, its message redelivered).
* While a message is in flight every assigned partition is **paused**. librdkafka then returns no
  messages from `poll()` (it drops what it had prefetched) and, on resume, fetches again from the
  position after the last message it handed over, so nothing is lost and nothing is skipped.
  Quick handlers (done within `pause_after` seconds) never pause: pausing drops the prefetched
  messages, which would cost one fetch round trip per message.
* What follows a handler call is decided by the `DeliveryPolicy` (`messaging/delivery.py`),
  the same one the embedded broker uses: exceptions, attempt counting, the final attempt,
  outages, backoff. This loop only carries the verdict out.
* `Done` stores offset+1 and commits it asynchronously: at once when the worker is quiet, at
  most every `commit_interval_seconds` under load; a synchronous commit follows on revoke and on
  close. Nothing unfinished is ever committed. `Retry` waits its backoff (still polling,
  partitions paused), then calls the handler again. `DeadLetter` copies the original message to
  the dead-letter topic (`dead_letter.py`) and then commits, so the next message of that
  partition is processed.

Rebalances (the choice made here): when the partition of the in-flight message is revoked, the
loop waits up to `revoke_grace_seconds` for the handler. If it finishes, its result is committed
while the partition is still ours. If not, the message is **abandoned**: nothing is committed, the
new owner receives it again, and the handler's idempotency (consumer, event id) drops whichever
copy finishes second. The abandoned handler thread cannot be killed; this worker takes no new
message until it ends, keeping "one message in flight per worker". A lost assignment (session
expired) abandons at once: committing is no longer possible. Attempt numbers are not persisted,
so a message moved by a rebalance starts again at attempt 1 on its new owner.

Batches: a handler with `batch_size > 1` (`BatchHandler`: the `MessageHandler` of a cheap step)
gets up to that many messages **of one partition** in one call: the first message polled, then
what librdkafka has ready or brings within `batch_wait_seconds`. Messages handed over but not
yet started wait in a local queue, in order (librdkafka will not hand them over again; a
revoked partition's are dropped: the new owner receives them). The handler commits the batch in
one database transaction and answers for the prefix it finished; those offsets are stored after
that commit (a crash in between redelivers them and the inbox drops the copies). The first
message past the prefix goes on alone, exactly as above, then the rest. One partition per batch
keeps a partition's order and keeps rebalances simple: a batch is revoked, abandoned and
redelivered whole, as one message is.

Shutdown: `run(stop)` returns after `stop` is set, giving the in-flight handler up to
`shutdown_grace_seconds` to finish (its result is then committed) before abandoning it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from vidigest.config import Settings
from vidigest.messaging.delivery import (
    BatchHandler,
    DeadLetter,
    DeliveryPolicy,
    Done,
    Handler,
    Retry,
    Verdict,
    batch_size,
)
from vidigest.messaging.transport import Message
from vidigest.providers.kafka.config import consumer_config
from vidigest.providers.kafka.dead_letter import DeadLetterTopic
from vidigest.providers.kafka.metrics import WorkerMetrics
from vidigest.providers.kafka.producer import KafkaPublisher, PublishError

log = logging.getLogger(__name__)

_LAG_EVERY_SECONDS = 1.0


def to_transport_message(raw: Any) -> Message:
    """A confluent Message -> transport.Message (str headers; origin "topic/partition/offset")."""
    key = raw.key()
    headers: dict[str, str] = {}
    for name, value in raw.headers() or []:
        if isinstance(value, bytes):
            headers[name] = value.decode("utf-8", errors="replace")
        else:
            headers[name] = "" if value is None else str(value)
    return Message(
        topic=raw.topic(),
        key=key.decode("utf-8", errors="replace") if isinstance(key, bytes) else key,
        value=raw.value() or b"",
        headers=headers,
        origin=f"{raw.topic()}/{raw.partition()}/{raw.offset()}",
    )


class _Job:
    """One call run on the helper thread; the loop thread waits for it without blocking poll()."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class _Runner:
    """A single daemon thread running jobs one at a time (daemon: an abandoned handler must
    not keep the process alive at exit)."""

    def __init__(self, name: str) -> None:
        self._jobs: list[_Job] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any]) -> _Job:
        job = _Job(fn)
        with self._cond:
            self._jobs.append(job)
            self._cond.notify()
        return job

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if not self._jobs:
                    return
                job = self._jobs.pop(0)
            try:
                job.result = job.fn()
            except BaseException as exc:
                job.error = exc
            finally:
                job.done.set()


@dataclass
class _InFlight:
    raw: Any  # confluent_kafka.Message
    message: Message
    attempt: int = 1
    outages: int = 0  # transient retries in a row (infrastructure down): they keep `attempt`
    job: _Job | None = None
    not_before: float = 0.0
    verdict: Done | DeadLetter | None = None  # set once the handler is done with the message
    dlq_failures: int = 0
    abandoned: bool = False
    started: float = field(default_factory=time.monotonic)
    # A batch (several messages of `raw`'s partition, `raw` first): the handler's
    # `handle_batch` runs once on all of them; empty for one message.
    batch: list[Any] = field(default_factory=list)

    @property
    def partition(self) -> tuple[str, int]:
        return (self.raw.topic(), self.raw.partition())


@dataclass
class _BatchDone:
    """What the helper thread made of a batch: the verdicts of the finished prefix, and, when
    a dead-letter copy could not be published, the index of that message and why."""

    verdicts: list[Done | DeadLetter]
    dlq_failed_at: int | None = None
    dlq_error: str | None = None


class KafkaWorker:
    """Consumes `topics` in a group and feeds each message to `handle(message, attempt)`."""

    def __init__(
        self,
        settings: Settings,
        topics: list[str],
        handle: Handler,
        dead_letter_topic: str,
        group_id: str | None = None,
        *,
        name: str | None = None,
        poll_timeout: float = 0.1,
        pause_after: float | None = None,
        revoke_grace_seconds: float = 5.0,
        shutdown_grace_seconds: float = 10.0,
        commit_interval_seconds: float = 0.5,
        batch_wait_seconds: float = 0.005,
        publisher: KafkaPublisher | None = None,
        extra_config: Mapping[str, Any] | None = None,
        policy: DeliveryPolicy | None = None,
    ) -> None:
        if not topics:
            raise ValueError("KafkaWorker needs at least one topic")
        self.settings = settings
        self.topics = list(topics)
        self.handle = handle
        self.policy = policy or DeliveryPolicy.from_settings(settings)
        self.group_id = group_id or settings.consumer_group
        self.name = name or self.group_id
        self.poll_timeout = poll_timeout
        # Never go without polling for more than a tenth of max.poll.interval.ms.
        self.pause_after = (
            pause_after
            if pause_after is not None
            else min(0.5, settings.max_poll_interval_ms / 10_000)
        )
        self.revoke_grace_seconds = revoke_grace_seconds
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self.commit_interval_seconds = commit_interval_seconds
        self.batch_size = batch_size(handle)
        self.batch_wait_seconds = batch_wait_seconds

        conf = consumer_config(settings, self.group_id, client_id=self.name)
        conf["on_commit"] = self._on_commit
        conf["error_cb"] = self._on_client_error
        conf.update(extra_config or {})
        self._consumer = Consumer(conf)
        self._owns_publisher = publisher is None
        self._publisher = publisher or KafkaPublisher(settings, client_id=f"{self.name}-dlq")
        self._dead_letters = DeadLetterTopic(self._publisher, dead_letter_topic)
        self._runner = _Runner(f"kafka-worker-{self.name}")
        self._inflight: _InFlight | None = None
        self._queued: deque[Any] = deque()  # handed over by librdkafka, not started: in order
        self._paused = False
        self._closed = False
        self._fatal: KafkaError | None = None
        self._lag_checked: dict[tuple[str, int], float] = {}
        self._uncommitted = False  # offsets stored locally but not yet sent to the broker
        self._last_commit = 0.0
        self._assigned: set[tuple[str, int]] = set()
        self._assigned_lock = threading.Lock()
        self._metrics = WorkerMetrics(self.name)

    # --- public ---

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, then finish (or abandon) the in-flight message and close."""
        self._consumer.subscribe(
            self.topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log.info("worker %s consuming %s in group %s", self.name, self.topics, self.group_id)
        try:
            while not stop.is_set():
                self._step()
                if self._fatal is not None:
                    raise KafkaException(self._fatal)
            self._drain(self.shutdown_grace_seconds)
        finally:
            self.close()

    def close(self) -> None:
        """Commit what is done, leave the group, stop the DLQ producer. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._inflight is not None and not self._inflight.abandoned:
            self._abandon("worker closing")
        try:
            self._commit_sync()
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("worker %s: error while closing consumer: %s", self.name, exc)
        self._runner.close()
        if self._owns_publisher:
            self._publisher.close()

    @property
    def busy(self) -> bool:
        return self._inflight is not None

    def assignment(self) -> list[tuple[str, int]]:
        """The (topic, partition) pairs this worker owns now; safe to call from any thread."""
        with self._assigned_lock:
            return sorted(self._assigned)

    # --- the loop ---

    def _step(self) -> None:
        if self._inflight is None:
            if self._paused:
                self._resume_all()
            raw = self._queued.popleft() if self._queued else self._consumer.poll(self.poll_timeout)
            if raw is None:
                self._maybe_commit(idle=True)
                return
            if raw.error():
                self._on_poll_error(raw.error())
                return
            self._start(raw)
            # Fast path: a quick handler finishes before we need to pause anything.
            job = self._inflight.job if self._inflight else None
            if job is not None:
                job.done.wait(self.pause_after)
            self._advance()
            if self._inflight is not None:
                self._pause_all()
            return
        self._advance()
        if self._inflight is None:
            self._resume_all()
            return
        self._pause_all()
        # Paused: this returns no messages, but serves rebalances and keeps membership alive.
        raw = self._consumer.poll(self.poll_timeout)
        if raw is not None and not raw.error():
            self._rewind(raw)
        elif raw is not None:
            self._on_poll_error(raw.error())
        self._maybe_commit(idle=True)
        if self._inflight is None and self._paused:
            self._resume_all()

    def _start(self, raw: Any) -> None:
        batch = self._batch_after(raw) if self.batch_size > 1 else []
        self._inflight = _InFlight(raw=raw, message=to_transport_message(raw), batch=batch)
        self._submit(self._inflight)

    def _batch_after(self, first: Any) -> list[Any]:
        """`first` and up to `batch_size - 1` queued messages of its partition, in order
        (taken out of the queue); [] when there is no other. Tops the queue up with what
        librdkafka has ready or brings within `batch_wait_seconds` (never blocks longer)."""
        if len(self._queued) < self.batch_size:
            for raw in self._consumer.consume(self.batch_size, self.batch_wait_seconds):
                if raw.error():
                    self._on_poll_error(raw.error())
                else:
                    self._queued.append(raw)
        partition = (first.topic(), first.partition())
        batch, rest = [first], deque[Any]()
        while self._queued:
            raw = self._queued.popleft()
            if len(batch) < self.batch_size and (raw.topic(), raw.partition()) == partition:
                batch.append(raw)
            else:
                rest.append(raw)
        self._queued = rest
        return batch if len(batch) > 1 else []

    def _submit(self, inflight: _InFlight) -> None:
        inflight.job = self._runner.submit(lambda: self._work(inflight))

    def _work(self, inflight: _InFlight) -> tuple[Verdict, str | None] | _BatchDone:
        """Runs on the helper thread: the handler call, then the dead-letter copy if needed.
        Returns the verdict and, when the copy could not be published, why."""
        if inflight.batch:
            return self._work_batch(inflight.batch)
        verdict: Verdict | None = inflight.verdict
        if verdict is None:
            started = time.perf_counter()
            verdict = self.policy.deliver(
                self.handle, inflight.message, inflight.attempt, inflight.outages, self.name
            )
            self._metrics.handled(verdict.result.outcome, time.perf_counter() - started)
        if not isinstance(verdict, DeadLetter):
            return verdict, None
        try:
            self._dead_letters.publish(
                inflight.raw, inflight.message, verdict.error, inflight.attempt
            )
        except PublishError as exc:
            return verdict, str(exc)
        return verdict, None

    def _work_batch(self, batch: list[Any]) -> _BatchDone:
        """The helper thread's part of a batch: one `handle_batch` call, then the dead-letter
        copies of what it dead-lettered, in order, stopping at a copy that fails."""
        assert isinstance(self.handle, BatchHandler)
        messages = [to_transport_message(raw) for raw in batch]
        started = time.perf_counter()
        verdicts = self.policy.deliver_batch(self.handle, messages, self.name)
        elapsed = (time.perf_counter() - started) / max(1, len(verdicts))
        for verdict in verdicts:
            self._metrics.handled(verdict.result.outcome, elapsed)
        for index, verdict in enumerate(verdicts):
            if isinstance(verdict, DeadLetter):
                try:
                    self._dead_letters.publish(batch[index], messages[index], verdict.error, 1)
                except PublishError as exc:
                    return _BatchDone(verdicts, index, str(exc))
        return _BatchDone(verdicts)

    def _finish_batch(self, inflight: _InFlight, done: _BatchDone) -> None:
        """Store the offsets of the finished prefix; the next message goes on alone (or with
        its dead-letter copy still to publish), the rest back to the front of the queue."""
        batch = inflight.batch
        finished = len(done.verdicts) if done.dlq_failed_at is None else done.dlq_failed_at
        if finished:
            self._mark_done(batch[finished - 1])
        self._inflight = None
        if finished == len(batch):
            return
        self._queued.extendleft(reversed(batch[finished + 1 :]))
        raw = batch[finished]
        alone = _InFlight(raw=raw, message=to_transport_message(raw))
        self._inflight = alone
        if done.dlq_failed_at is not None:
            alone.verdict = done.verdicts[finished]
            alone.dlq_failures = 1
            delay = self.policy.backoff.seconds(1)
            log.error(
                "worker %s: cannot dead-letter %s, trying again in %.2fs: %s",
                self.name,
                alone.message.origin,
                delay,
                done.dlq_error,
            )
            alone.not_before = time.monotonic() + delay
            return
        self._submit(alone)

    def _advance(self) -> None:
        """Move the in-flight message on: start a due attempt, or act on a finished one."""
        inflight = self._inflight
        if inflight is None:
            return
        job = inflight.job
        if job is None:
            if time.monotonic() >= inflight.not_before:
                self._submit(inflight)
            return
        if not job.done.is_set():
            return
        inflight.job = None
        if inflight.abandoned:
            log.info(
                "worker %s: abandoned handler for %s has ended", self.name, inflight.message.origin
            )
            self._inflight = None
            return
        if job.error is not None:  # a bug in this module, not in the handler: surface it
            raise job.error
        if isinstance(job.result, _BatchDone):
            self._finish_batch(inflight, job.result)
            return
        verdict, dlq_error = job.result
        if isinstance(verdict, Retry):
            log.info(
                "worker %s: retrying %s in %.2fs (attempt %d %s: %s)",
                self.name,
                inflight.message.origin,
                verdict.after,
                inflight.attempt,
                "not counted" if verdict.transient else "failed",
                verdict.error,
            )
            inflight.attempt, inflight.outages = verdict.attempt, verdict.outages
            inflight.not_before = time.monotonic() + verdict.after
            return
        inflight.verdict = verdict
        if dlq_error is not None:
            inflight.dlq_failures += 1
            delay = self.policy.backoff.seconds(inflight.dlq_failures)
            log.error(
                "worker %s: cannot dead-letter %s, trying again in %.2fs: %s",
                self.name,
                inflight.message.origin,
                delay,
                dlq_error,
            )
            inflight.not_before = time.monotonic() + delay
            return
        self._mark_done(inflight.raw)
        self._inflight = None

    def _drain(self, grace: float) -> None:
        """At stop: let the in-flight message finish (polling meanwhile), else abandon it."""
        deadline = time.monotonic() + grace
        while self._inflight is not None and not self._inflight.abandoned:
            if time.monotonic() >= deadline:
                self._abandon("shutdown grace period over")
                return
            if self._inflight.job is None:  # waiting for a retry: not worth waiting at stop
                self._abandon("stopping during retry backoff")
                return
            self._advance()
            if self._inflight is not None:
                self._consumer.poll(min(self.poll_timeout, 0.05))

    def _abandon(self, why: str) -> None:
        inflight = self._inflight
        if inflight is None:
            return
        log.warning(
            "worker %s: abandoning %s (%s); not committed, it will be redelivered",
            self.name,
            inflight.message.origin,
            why,
        )
        if inflight.job is None or inflight.job.done.is_set():
            self._inflight = None
        else:
            inflight.abandoned = True  # the handler thread still runs: wait for it in the loop

    # --- offsets ---

    def _mark_done(self, raw: Any) -> None:
        """Store the offset after `raw` (done, and with it every earlier message of its
        partition) for the next commit."""
        topic, partition = raw.topic(), raw.partition()
        offset = raw.offset() + 1
        try:
            self._consumer.store_offsets(offsets=[TopicPartition(topic, partition, offset)])
        except KafkaException as exc:
            # Typically the partition is no longer ours: the new owner will redeliver.
            log.warning(
                "worker %s: cannot commit %s/%d@%d: %s", self.name, topic, partition, offset, exc
            )
            return
        self._uncommitted = True
        self._maybe_commit(idle=False)
        self._update_lag(topic, partition, offset)

    def _maybe_commit(self, idle: bool) -> None:
        """Send the stored offsets, at most once per `commit_interval_seconds` while busy.

        One commit request per message floods the group coordinator at high rates (measured on
        tansu: heartbeats queued behind thousands of commits, the session expired). A quiet
        worker commits at once, so in the usual case (few, long messages) each message is
        committed right after it is done; a crash loses at most one interval of commits, and
        those messages are redelivered and deduplicated by event id.
        """
        if not self._uncommitted:
            return
        now = time.monotonic()
        if not idle and now - self._last_commit < self.commit_interval_seconds:
            return
        self._uncommitted = False
        self._last_commit = now
        try:
            self._consumer.commit(asynchronous=True)
        except KafkaException as exc:
            log.warning("worker %s: commit failed: %s", self.name, exc)

    def _commit_sync(self) -> None:
        self._uncommitted = False
        self._last_commit = time.monotonic()
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError._NO_OFFSET:
                return  # nothing stored since the last commit
            log.warning("worker %s: synchronous commit failed: %s", self.name, exc)

    def _update_lag(self, topic: str, partition: int, next_offset: int) -> None:
        now = time.monotonic()
        if now - self._lag_checked.get((topic, partition), 0.0) < _LAG_EVERY_SECONDS:
            return
        self._lag_checked[(topic, partition)] = now
        try:
            watermarks = self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), cached=True
            )
        except KafkaException:
            return
        if watermarks and watermarks[1] >= 0:
            self._metrics.lag(topic, partition, max(0, watermarks[1] - next_offset))

    # --- pause / resume ---

    def _pause_all(self) -> None:
        if self._paused:
            return
        assignment = self._consumer.assignment()
        if assignment:
            self._consumer.pause(assignment)
        self._paused = True

    def _resume_all(self) -> None:
        assignment = self._consumer.assignment()
        if assignment:
            self._consumer.resume(assignment)
        self._paused = False

    def _rewind(self, raw: Any) -> None:
        """A message arrived while paused (librdkafka should not do that): seek back to it so
        it is delivered again after the resume instead of being lost."""
        log.warning(
            "worker %s: got %s/%d@%d while paused; rewinding",
            self.name,
            raw.topic(),
            raw.partition(),
            raw.offset(),
        )
        try:
            self._consumer.seek(TopicPartition(raw.topic(), raw.partition(), raw.offset()))
        except KafkaException as exc:
            log.error("worker %s: cannot rewind: %s", self.name, exc)

    # --- callbacks (run inside poll()/close() on the loop thread) ---

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("worker %s: assigned %s", self.name, _names(partitions))
        consumer.incremental_assign(partitions)
        with self._assigned_lock:
            self._assigned.update((p.topic, p.partition) for p in partitions)
        # New partitions must not deliver while a message is in flight; and a partition that
        # was paused before a previous revoke must not stay paused now.
        if self._paused:
            consumer.pause(partitions)
        else:
            consumer.resume(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("worker %s: revoked %s", self.name, _names(partitions))
        revoked = {(p.topic, p.partition) for p in partitions}

        def revoked_inflight() -> _InFlight | None:
            # after a batch, the message past its prefix may be in flight alone: same partition
            current = self._inflight
            if current is None or current.abandoned or current.partition not in revoked:
                return None
            return current

        deadline = time.monotonic() + self.revoke_grace_seconds
        while (inflight := revoked_inflight()) is not None and time.monotonic() < deadline:
            if inflight.job is None:  # in retry backoff: give it up to the new owner
                break
            inflight.job.done.wait(max(0.0, min(0.1, deadline - time.monotonic())))
            self._advance()
        if revoked_inflight() is not None:
            self._abandon("partition revoked")
        self._commit_sync()
        self._forget(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("worker %s: lost %s", self.name, _names(partitions))
        inflight = self._inflight
        lost = {(p.topic, p.partition) for p in partitions}
        if inflight is not None and not inflight.abandoned and inflight.partition in lost:
            self._abandon("assignment lost")
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        gone = {(p.topic, p.partition) for p in partitions}
        # queued messages of a partition no longer ours: its new owner receives them
        self._queued = deque(r for r in self._queued if (r.topic(), r.partition()) not in gone)
        with self._assigned_lock:
            for p in partitions:
                self._assigned.discard((p.topic, p.partition))
                self._lag_checked.pop((p.topic, p.partition), None)

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if err is not None and err.code() != KafkaError._NO_OFFSET:
            log.warning("worker %s: commit failed: %s", self.name, err.str())

    def _on_client_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
        log.warning("worker %s: kafka: %s", self.name, err.str())

    def _on_poll_error(self, err: KafkaError | None) -> None:
        if err is None:
            return
        if err.fatal():
            raise KafkaException(err)
        log.warning("worker %s: consumer error: %s", self.name, err.str())


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}/{p.partition}" for p in partitions) or "-"
