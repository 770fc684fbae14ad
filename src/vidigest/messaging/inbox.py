"""Idempotent consumer: remember every (consumer, message id) processed, race-safely."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, bindparam, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from vidigest.database.repository import GenericRepository
from vidigest.messaging.models import ProcessedMessage


@dataclass(frozen=True)
class MarkResult:
    record: ProcessedMessage
    created: bool  # False: the message had been processed already (or concurrently)


class ProcessedMessageService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.repository = GenericRepository(session, ProcessedMessage)

    def is_processed(self, consumer: str, message_id: str) -> bool:
        return self._find(consumer, message_id) is not None

    def mark_as_processed(
        self,
        consumer: str,
        message_id: str,
        skip_check: bool = False,
        outcome: str = "processed",
    ) -> MarkResult:
        """Record the message as processed in the caller's transaction.

        Race-safe without catching errors: INSERT ... ON CONFLICT DO NOTHING. On PostgreSQL a
        concurrent transaction inserting the same key waits for the first one; if that one
        commits, the insert does nothing and the existing record is returned with created=False.
        `skip_check=True` skips the initial look-up (one round trip less on the hot path).
        """
        if not skip_check:
            existing = self._find(consumer, message_id)
            if existing is not None:
                return MarkResult(existing, created=False)
        record: ProcessedMessage | None = self.session.execute(
            self._insert_ignoring_duplicates(consumer, message_id, outcome)
        ).scalar_one_or_none()
        if record is None:
            existing = self._find(consumer, message_id)
            if existing is None:  # the other inserter rolled back after we looked: ours is due
                return self.mark_as_processed(consumer, message_id, skip_check=True)
            return MarkResult(existing, created=False)
        return MarkResult(record, created=True)

    def mark_all_as_processed(self, consumer: str, message_ids: Sequence[str]) -> set[str]:
        """Record many messages in one statement (a batch of a cheap step), in the caller's
        transaction; returns the ids recorded now, the others had been processed already (or
        concurrently: as for one message, the insert waits for that transaction)."""
        if not message_ids:
            return set()
        unique = list(dict.fromkeys(message_ids))  # once each, in order
        if self.session.get_bind().dialect.name == "postgresql":
            # the ids as one array parameter: one cached statement whatever the batch size
            # (a VALUES row per message is compiled anew for every batch: most of its cost)
            ids = select(
                literal(consumer, String),
                func.unnest(bindparam("ids", unique, type_=postgresql.ARRAY(String))),
                literal("processed", String),
            )
            pg_stmt = (
                postgresql.insert(ProcessedMessage)
                .from_select(["consumer", "message_id", "outcome"], ids)
                .on_conflict_do_nothing(index_elements=["consumer", "message_id"])
                .returning(ProcessedMessage.message_id)
            )
            return set(self.session.execute(pg_stmt).scalars())
        rows = [
            {"consumer": consumer, "message_id": message_id, "outcome": "processed"}
            for message_id in unique
        ]
        statement = self._insert_ignoring_duplicates_of(rows).returning(ProcessedMessage.message_id)
        return set(self.session.execute(statement).scalars())

    def _find(self, consumer: str, message_id: str) -> ProcessedMessage | None:
        return self.repository.find_one({"consumer": consumer, "message_id": message_id})

    def _insert_ignoring_duplicates(
        self, consumer: str, message_id: str, outcome: str
    ) -> ReturningInsert[Any]:  # its generic form differs in SQLAlchemy 2.0 and 2.1
        values = {"consumer": consumer, "message_id": message_id, "outcome": outcome}
        return self._insert_ignoring_duplicates_of([values]).returning(ProcessedMessage)

    def _insert_ignoring_duplicates_of(
        self, rows: list[dict[str, str]]
    ) -> postgresql.Insert | sqlite.Insert:
        conflict_columns = ["consumer", "message_id"]
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            pg_stmt = postgresql.insert(ProcessedMessage).values(rows)
            return pg_stmt.on_conflict_do_nothing(index_elements=conflict_columns)
        if dialect == "sqlite":
            lite_stmt = sqlite.insert(ProcessedMessage).values(rows)
            return lite_stmt.on_conflict_do_nothing(index_elements=conflict_columns)
        raise NotImplementedError(f"idempotent insert not implemented for {dialect}")
