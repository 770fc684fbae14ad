"""Bad input at volume: arbitrary bytes, arbitrary JSON and near-valid envelopes through the
real handlers of both workers, on SQLite and PostgreSQL. Each one is dead-lettered (or seen as a
duplicate) with a clean result: never an exception, never a retry (a retry of bad input is how
crash loops start), and never SQL built from the message's text."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from vidigest.app import Vidigest
from vidigest.common.constants import EventType
from vidigest.config import Settings
from vidigest.database.session import Database
from vidigest.messaging.models import DeadLetter
from vidigest.messaging.transport import Message, Outcome

CANARY = "c4n4ry'\";--"  # a marker that must never appear in an SQL statement

texts = st.text(max_size=60).map(lambda t: t + CANARY)
huge_texts = st.text(min_size=1, max_size=5).map(lambda t: t * 20_000 + CANARY)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)
event_types = st.sampled_from([e.value for e in EventType]) | texts
near_valid = st.fixed_dictionaries(
    {"event_type": event_types},
    optional={
        "event_id": st.uuids().map(str) | texts | st.integers(),
        "aggregate_id": texts | huge_texts | st.integers(),
        "occurred_at": st.datetimes().map(lambda d: d.isoformat()) | texts,
        "payload": st.fixed_dictionaries(
            {},
            optional={
                "video_id": st.uuids().map(str) | texts | huge_texts | st.none() | st.integers(),
                "source_path": texts,
                "transcript_id": texts,
                "segment_count": st.integers() | texts,
                "language": texts | st.none(),
            },
        )
        | json_values,
        "unexpected": json_values,
    },
)
values = (
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | near_valid.map(lambda v: json.dumps(v).encode())
)
header_texts = st.text(max_size=300)
messages = st.builds(
    lambda value, key, headers, topic: (value, key, headers, topic),
    values,
    st.none() | st.text(max_size=400),
    st.dictionaries(st.sampled_from(["event_id", "event_type", "x"]), header_texts, max_size=3),
    st.sampled_from(["video.registered", "transcription.completed"]),
)


@pytest.fixture
def app_on(db: Database, tmp_path: Any) -> Iterator[Vidigest]:
    app = Vidigest.open(Settings(data_dir=tmp_path, database_url=db.url))
    yield app
    app.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(message=messages)
def test_bad_messages_are_dead_lettered_cleanly(
    app_on: Vidigest, message: tuple[bytes, str | None, dict[str, str], str]
) -> None:
    value, key, headers, topic = message
    worker = "transcription" if topic == "video.registered" else "summary"
    handler = app_on.handler(worker)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = app_on.database.engine
    with app_on.database.session() as session:
        before = session.scalar(select(func.count()).select_from(DeadLetter)) or 0
    event.listen(engine, "before_cursor_execute", record)
    try:
        result = handler(
            Message(topic=topic, key=key, value=value, headers=headers, origin=f"{topic}/0/1"),
            1,
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert result.outcome in (Outcome.DEAD_LETTERED, Outcome.DUPLICATE), result
    assert result.error or result.outcome is Outcome.DUPLICATE
    assert not any("c4n4ry" in s for s in statements)
    if result.outcome is Outcome.DEAD_LETTERED:
        with app_on.database.session() as session:
            after = session.scalar(select(func.count()).select_from(DeadLetter)) or 0
            letter = session.scalars(select(DeadLetter).order_by(DeadLetter.id.desc())).first()
        assert after == before + 1
        assert letter is not None and letter.payload == value  # kept whole


def test_a_dead_lettered_message_keeps_its_event_id(sqlite_db: Database, tmp_path: Any) -> None:
    app = Vidigest.open(Settings(data_dir=tmp_path, database_url=sqlite_db.url))
    event_id = str(uuid.uuid4())
    body = {
        "event_id": event_id,
        "event_type": "video.registered",
        "aggregate_id": "v",
        "payload": {"video_id": "v", "source_path": "/x.mp4"},
    }
    result = app.handler("transcription")(
        Message(
            topic="video.registered",
            key="v",
            value=json.dumps(body).encode(),
            headers={"event_id": event_id},
        ),
        1,
    )
    assert result.outcome is Outcome.DEAD_LETTERED
    assert result.error == "transcription failed: video v not found"
    with app.database.session() as session:
        letter = session.scalars(select(DeadLetter)).one()
    assert letter.message_id == event_id
    app.close()
