"""`KafkaPublisher`: the `Publisher` the outbox relay (and the dead-letter path) uses on Kafka.

`publish()` returns only when every message has a successful delivery report from the broker
(idempotent producer, acks=all), and raises `PublishError` otherwise, so the relay never marks an
outbox row as sent when its message may be lost. A failed batch may have been partly delivered:
the relay publishes it again and consumers drop the duplicates by event id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from vidigest.common.exceptions import VidigestError
from vidigest.config import Settings
from vidigest.messaging.transport import Message
from vidigest.providers.kafka.config import producer_config

log = logging.getLogger(__name__)


class PublishError(VidigestError):
    """At least one message of a batch was not durably accepted by the broker."""


def encode_headers(headers: Mapping[str, str]) -> list[tuple[str, str | bytes | None]]:
    return [(str(name), str(value).encode("utf-8")) for name, value in headers.items()]


class KafkaPublisher:
    """Publishes `Message`s in order, each with its key and headers, and waits for the acks."""

    def __init__(
        self,
        settings: Settings,
        *,
        delivery_timeout: float = 30.0,
        client_id: str = "vidigest-publisher",
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self._conf = producer_config(settings, client_id)
        # A message that cannot be delivered in time fails its delivery report instead of
        # staying queued forever: publish() then knows, within the timeout, what happened.
        self._conf["message.timeout.ms"] = int(delivery_timeout * 1000)
        self._conf["error_cb"] = self._on_error
        self._conf.update(extra_config or {})
        self._delivery_timeout = delivery_timeout
        self._lock = threading.Lock()
        self._fatal: KafkaError | None = None
        self._producer: Producer | None = Producer(self._conf)

    def publish(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        with self._lock:
            producer = self._ensure_producer()
            failures: list[str] = []
            pending = [len(messages)]

            def on_delivery(err: KafkaError | None, msg: Any) -> None:
                pending[0] -= 1
                if err is not None:
                    failures.append(f"{msg.topic()}: {err.str()}")
                    if err.fatal():
                        self._fatal = err

            for message in messages:
                self._produce(producer, message, on_delivery)
            deadline = time.monotonic() + self._delivery_timeout + 5.0
            while pending[0] > 0 and time.monotonic() < deadline:
                producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
            if self._fatal is not None:
                # An idempotent producer in a fatal state refuses everything: start afresh.
                log.error("producer fatal error, recreating it: %s", self._fatal.str())
                self._discard_producer()
            if pending[0] > 0:
                raise PublishError(
                    f"{pending[0]} of {len(messages)} messages unconfirmed after "
                    f"{self._delivery_timeout:.0f}s"
                )
            if failures:
                raise PublishError(
                    f"{len(failures)} of {len(messages)} messages not delivered: {failures[0]}"
                )

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            if self._producer is not None:
                remaining = self._producer.flush(timeout)
                if remaining:
                    log.warning("closing producer with %d undelivered messages", remaining)
                self._producer = None

    # --- internals ---

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            self._fatal = None
            self._producer = Producer(self._conf)
        return self._producer

    def _discard_producer(self) -> None:
        self._producer = None

    def _produce(self, producer: Producer, message: Message, on_delivery: Any) -> None:
        while True:
            try:
                producer.produce(
                    message.topic,
                    value=message.value,
                    key=message.key.encode("utf-8") if message.key is not None else None,
                    headers=encode_headers(message.headers),
                    on_delivery=on_delivery,
                )
                return
            except BufferError:
                # The local queue is full: serve delivery reports to make room, then retry.
                producer.poll(0.1)
            except KafkaException as exc:
                raise PublishError(f"cannot produce to {message.topic}: {exc}") from exc

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
        log.warning("kafka producer: %s", err.str())
