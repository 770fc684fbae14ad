"""The Kafka dead-letter topic: where the worker copies a message it gives up on.

The copy keeps the original key, value and headers, and adds why it failed and where it came
from (topic/partition/offset, attempts), so an operator can inspect it and publish it again.
The worker commits the original only after the copy is acknowledged; a copy that cannot be
published is tried again (with backoff) and the partition waits: nothing is lost.
"""

from __future__ import annotations

from typing import Any

from vidigest.common.constants import HEADER_ERROR, HEADER_SOURCE_TOPIC
from vidigest.messaging.transport import Message
from vidigest.providers.kafka.producer import KafkaPublisher

HEADER_SOURCE_PARTITION = "source_partition"
HEADER_SOURCE_OFFSET = "source_offset"
HEADER_ATTEMPTS = "attempts"


class DeadLetterTopic:
    def __init__(self, publisher: KafkaPublisher, topic: str) -> None:
        self.publisher = publisher
        self.topic = topic

    def publish(self, raw: Any, message: Message, error: str, attempts: int) -> None:
        """Copy `message` (read from `raw`, the confluent message) to the dead-letter topic;
        raises `PublishError` when the broker does not acknowledge it."""
        headers = dict(message.headers)
        headers.update(
            {
                HEADER_ERROR: error or "unknown error",
                HEADER_SOURCE_TOPIC: raw.topic(),
                HEADER_SOURCE_PARTITION: str(raw.partition()),
                HEADER_SOURCE_OFFSET: str(raw.offset()),
                HEADER_ATTEMPTS: str(attempts),
            }
        )
        copy = Message(
            topic=self.topic,
            key=message.key,
            value=message.value,
            headers=headers,
            origin=message.origin,
        )
        self.publisher.publish([copy])
