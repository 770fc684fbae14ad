from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.support.factories import register_video
from vidigest.database.session import Database, db_session_context
from vidigest.modules.videos.models import Video


def _count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Video)) or 0)


def test_commits_on_success(db: Database) -> None:
    register_video(db)
    assert _count(db) == 1


def test_rolls_back_on_error_and_reraises(db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"), db_session_context(db.session_factory) as s:
        s.add(Video(filename="x", source_type="path", source_uri="/x", media_path="/x"))
        s.flush()  # the row reached the database inside the transaction...
        raise RuntimeError("boom")
    assert _count(db) == 0  # ...and is gone


def test_always_closes_the_session(db: Database) -> None:
    seen: list[Session] = []
    with pytest.raises(ValueError), db_session_context(db.session_factory) as session:
        seen.append(session)
        session.scalar(select(func.count()).select_from(Video))
        raise ValueError
    assert not seen[0].in_transaction()
    with db_session_context(db.session_factory) as session:
        seen.append(session)
    assert not seen[1].in_transaction()
