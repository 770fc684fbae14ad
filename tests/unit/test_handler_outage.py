"""An unreachable database is an outage, not a bad message: the handler asks for a retry that
does not count as an attempt, even at the last one, and dead-letters nothing."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from tests.support.factories import (
    CountingStep,
    count,
    event_message,
    message_handler,
    register_video,
    registered_event,
)
from tests.support.ports import free_port
from vidigest.database.session import Database
from vidigest.messaging.models import DeadLetter
from vidigest.messaging.transport import Outcome


def test_unreachable_database_is_retried_without_counting(sqlite_db: Database) -> None:
    message = event_message(registered_event(register_video(sqlite_db)))
    nowhere = Database(
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none",
        connect_args={"connect_timeout": 5},
    )
    try:
        handler = message_handler(CountingStep(), nowhere.session_factory, max_attempts=2)
        for attempt in (1, 2, 3):  # the last attempt and past it: still a retry
            result = handler(message, attempt)
            assert result.outcome is Outcome.RETRY
            assert result.transient, result.error
    finally:
        nowhere.dispose()


def test_database_error_of_a_reachable_database_counts(sqlite_db: Database) -> None:
    """A statement that fails while the database answers is the message's problem: attempts
    count, and the last one dead-letters it."""
    message = event_message(registered_event(register_video(sqlite_db)))
    failure = OperationalError("SELECT broken", {}, Exception("no such column"))
    step = CountingStep(failures=[failure, failure])
    handler = message_handler(step, sqlite_db.session_factory, max_attempts=2)

    first = handler(message, 1)
    assert first.outcome is Outcome.RETRY and not first.transient
    assert handler(message, 2).outcome is Outcome.DEAD_LETTERED
    assert count(sqlite_db, DeadLetter) == 1
