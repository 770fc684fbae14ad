"""Dead letters: messages that could not be processed, kept whole with the reason."""

from __future__ import annotations

from sqlalchemy.orm import Session

from vidigest.common.constants import HEADER_EVENT_ID
from vidigest.common.text import storable
from vidigest.database.repository import GenericRepository
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.messaging.inbox import ProcessedMessageService
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


class DeadLetterTable:
    """The embedded transport's dead-letter place (Kafka's is a topic): a message the delivery
    policy gave up on, because the handler could not record the failure itself, is kept here.

    One transaction: the processed mark (outcome "failed") so that the next process start does
    not deliver it again (`EmbeddedRuntime.recover`), and the dead-letter row. Raises when the
    database cannot be written; the broker then tries again."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self.session_factory = session_factory

    def __call__(self, consumer: str, message: Message, error: str, attempts: int) -> None:
        message_id = message.headers.get(HEADER_EVENT_ID)
        with db_session_context(self.session_factory) as session:
            if message_id is not None:
                marked = ProcessedMessageService(session).mark_as_processed(
                    consumer, storable(message_id, 128), outcome="failed"
                )
                if not marked.created:
                    return  # handled meanwhile (a concurrent delivery): nothing to keep
            DeadLetterService(session).record(consumer, message, error, attempts)
