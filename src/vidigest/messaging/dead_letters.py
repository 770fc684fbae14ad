"""Dead letters: messages that could not be processed, kept whole with the reason."""

from __future__ import annotations

from sqlalchemy.orm import Session

from vidigest.common.constants import HEADER_EVENT_ID
from vidigest.database.repository import GenericRepository
from vidigest.messaging.models import DeadLetter
from vidigest.messaging.transport import Message


class DeadLetterService:
    def __init__(self, session: Session) -> None:
        self.repository = GenericRepository(session, DeadLetter)

    def record(self, consumer: str, message: Message, error: str, attempts: int) -> DeadLetter:
        return self.repository.add(
            DeadLetter(
                consumer=consumer,
                topic=message.topic,
                message_key=message.key,
                message_id=message.headers.get(HEADER_EVENT_ID),
                origin=message.origin,
                headers=dict(message.headers),
                payload=message.value,
                error=error,
                attempts=attempts,
            )
        )
