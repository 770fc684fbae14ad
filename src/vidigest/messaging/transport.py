"""The small interface between the message handler and whatever carries messages.

Services never see it: they write outbox rows. The relay publishes those rows through a
`Publisher`; a consumer loop (embedded or Kafka) feeds each `Message` to a `MessageHandler`
and acts on the `HandleResult` as the one `DeliveryPolicy` (`delivery.py`) decides: commit,
retry later, or dead-letter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class Message:
    topic: str
    key: str | None
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    # Where the message came from, for dead-letter records ("topic/partition/offset").
    origin: str | None = None


class Publisher(Protocol):
    def publish(self, messages: Sequence[Message]) -> None:
        """Publish in order; return only once every message is durably accepted."""


class Outcome(StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"  # already processed by this consumer: nothing done
    RETRY = "retry"  # transient failure, nothing committed: deliver again later
    DEAD_LETTERED = "dead_lettered"  # permanent failure recorded; move on


@dataclass(frozen=True)
class HandleResult:
    outcome: Outcome
    error: str | None = None
    # RETRY only: the infrastructure (the database) is unreachable, not this message at fault.
    # Such an attempt does not count toward the maximum: the message is never given up on
    # (dead-lettered) because of an outage.
    transient: bool = False
