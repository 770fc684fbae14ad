"""ProcessedMessageService under real concurrent transactions on PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from vidigest.database.session import Database
from vidigest.messaging.inbox import MarkResult, ProcessedMessageService

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("first_commits", [True, False])
def test_concurrent_duplicate_insert(postgres_db: Database, first_commits: bool) -> None:
    first = postgres_db.session_factory()
    mine = ProcessedMessageService(first).mark_as_processed("worker", "m-1", skip_check=True)
    assert mine.created

    results: list[MarkResult] = []
    errors: list[BaseException] = []

    def second_transaction() -> None:
        try:
            with postgres_db.session() as session:
                results.append(ProcessedMessageService(session).mark_as_processed("worker", "m-1"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=second_transaction)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive(), "the second insert must wait for the first transaction"
    if first_commits:
        first.commit()
    else:
        first.rollback()
    first.close()
    thread.join(10)
    assert not errors, errors
    (theirs,) = results
    if first_commits:
        assert not theirs.created and theirs.record.id == mine.record.id
    else:
        assert theirs.created
    with postgres_db.session() as session:
        assert ProcessedMessageService(session).is_processed("worker", "m-1")
