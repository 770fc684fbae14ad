"""Dead letters: messages that could not be processed, kept whole with the reason."""

from __future__ import annotations

from sqlalchemy.orm import Session

from vidigest.common.constants import HEADER_EVENT_ID
from vidigest.common.text import storable
from vidigest.database.repository import GenericRepository
from vidigest.messaging.models import DeadLetter
from vidigest.messaging.transport import Message


class DeadLetterService:
    def __init__(self, session: Session) -> None:
        self.repository = GenericRepository(session, DeadLetter)

    def record(self, consumer: str, message: Message, error: str, attempts: int) -> DeadLetter:
        """Keep the message whole: its value byte for byte; its key, headers and origin (free
        text from the transport) made storable and cut to the columns' sizes."""
        message_id = message.headers.get(HEADER_EVENT_ID)
        return self.repository.add(
            DeadLetter(
                consumer=consumer,
                topic=storable(message.topic, 255),
                message_key=None if message.key is None else storable(message.key, 255),
                message_id=None if message_id is None else storable(message_id, 128),
                origin=None if message.origin is None else storable(message.origin, 255),
                headers={storable(k, 255): storable(v, 4096) for k, v in message.headers.items()},
                payload=message.value,
                error=storable(error, 4096),
                attempts=attempts,
            )
        )
