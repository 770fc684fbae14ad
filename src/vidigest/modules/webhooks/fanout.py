"""The webhook consumer: turns the pipeline's events (video.failed, summary.completed,
video.progress) into the deliveries each subscribed endpoint is owed, in one transaction with
its processed mark, so a redelivered event never owes a delivery twice. Embedded, the
in-process broker calls it; distributed, `vidigest worker webhooks` consumes the topics in its
own consumer group. The dispatcher (`dispatcher.py`) sends what it wrote."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import OperationalError

from vidigest.common.constants import EventType
from vidigest.common.exceptions import MalformedMessageError
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.messaging.codec import decode_event
from vidigest.messaging.dead_letters import DeadLetterService
from vidigest.messaging.delivery import describe
from vidigest.messaging.inbox import ProcessedMessageService
from vidigest.messaging.transport import HandleResult, Message, Outcome
from vidigest.modules.webhooks.service import WEBHOOK_EVENT_FOR, WebhookService

log = logging.getLogger(__name__)

CONSUMER = "webhook-dispatcher"  # the idempotency key's consumer and the group's suffix
# the pipeline events webhooks are made of (their topics are what the consumer subscribes to)
CONSUMED: tuple[EventType, ...] = tuple(WEBHOOK_EVENT_FOR)


class WebhookFanOut:
    def __init__(
        self, session_factory: SessionFactory, on_deliveries: Callable[[], None] | None = None
    ) -> None:
        self.session_factory = session_factory
        self.on_deliveries = on_deliveries  # wakes an in-process dispatcher

    def __call__(self, message: Message, attempt: int) -> HandleResult:
        try:
            event = decode_event(message)
        except MalformedMessageError as exc:
            return self._dead_letter(message, str(exc), attempt)
        try:
            with db_session_context(self.session_factory) as session:
                mark = ProcessedMessageService(session).mark_as_processed(
                    CONSUMER, str(event.event_id)
                )
                if not mark.created:
                    return HandleResult(Outcome.DUPLICATE)
                owed = WebhookService(session).fan_out(event)
        except OperationalError as exc:  # the database is away: an outage, not this event
            return HandleResult(Outcome.RETRY, describe(exc), transient=True)
        except MalformedMessageError as exc:
            return self._dead_letter(message, str(exc), attempt)
        if owed and self.on_deliveries is not None:
            self.on_deliveries()
        return HandleResult(Outcome.PROCESSED)

    def _dead_letter(self, message: Message, error: str, attempt: int) -> HandleResult:
        with db_session_context(self.session_factory) as session:
            DeadLetterService(session).record(CONSUMER, message, error, attempt)
        log.error("%s: dead-lettered a malformed event: %s", CONSUMER, error)
        return HandleResult(Outcome.DEAD_LETTERED, error)
