"""Transactional outbox: events are rows written in the caller's transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from vidigest.common.constants import AGGREGATE_VIDEO
from vidigest.common.types import Event
from vidigest.database.repository import GenericRepository
from vidigest.messaging.models import OutboxEvent


class OutboxService:
    def __init__(self, session: Session) -> None:
        self.session = session
        # Services sharing a session (one transaction) share one repository.
        repository = session.info.get("outbox_repository")
        if not isinstance(repository, GenericRepository):
            repository = GenericRepository(session, OutboxEvent)
            session.info["outbox_repository"] = repository
        self.repository: GenericRepository[OutboxEvent] = repository

    def add(self, event: Event, aggregate_type: str = AGGREGATE_VIDEO) -> OutboxEvent:
        """Queue `event` for publication; it becomes visible only if the transaction commits."""
        row = OutboxEvent(
            event_id=str(event.event_id),
            event_type=event.event_type.value,
            aggregate_type=aggregate_type,
            aggregate_id=event.aggregate_id,
            topic=event.event_type.topic,
            payload=event.model_dump(mode="json"),
        )
        return self.repository.add(row)
