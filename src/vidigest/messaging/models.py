"""Tables of the event plumbing: outbox, processed messages (inbox), dead letters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vidigest.database.base import Base, BigIntId, CreatedAtMixin, JsonDocument


class OutboxEvent(CreatedAtMixin, Base):
    """An event written in the same transaction as the state change it announces."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        # the relay's scan: pending rows in id order
        Index("ix_outbox_events_pending", "published_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    aggregate_type: Mapped[str] = mapped_column(String(32))
    aggregate_id: Mapped[str] = mapped_column(String(64), index=True)
    topic: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, object]] = mapped_column(JsonDocument)  # the full Event envelope
    published_at: Mapped[datetime | None] = mapped_column()


class ProcessedMessage(CreatedAtMixin, Base):
    """Idempotent consumer: one row per (consumer, message id) ever processed."""

    __tablename__ = "processed_messages"
    __table_args__ = (UniqueConstraint("consumer", "message_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16), default="processed")


class DeadLetter(CreatedAtMixin, Base):
    """A message that could not be processed, kept whole with the reason."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(255))
    message_key: Mapped[str | None] = mapped_column(String(255))
    message_id: Mapped[str | None] = mapped_column(String(128))
    origin: Mapped[str | None] = mapped_column(String(255))
    headers: Mapped[dict[str, str]] = mapped_column(JsonDocument, default=dict)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
