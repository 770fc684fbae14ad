"""GenericRepository: ordering and filtering by caller-supplied names, on both backends."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select

from tests.support.factories import register_video
from vidigest.common.exceptions import InvalidQueryError
from vidigest.database.repository import GenericRepository
from vidigest.database.session import Database
from vidigest.modules.videos.models import Video


@pytest.fixture
def three_videos(db: Database) -> list[str]:
    ids = []
    for name in ("b.mp4", "a.mp4", "c.mp4"):
        ids.append(register_video(db, f"/media/{name}").id)
        time.sleep(0.002)  # distinct created_at
    return ids


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("created_at", ["b.mp4", "a.mp4", "c.mp4"]),
        ("created_at DESC", ["c.mp4", "a.mp4", "b.mp4"]),
        ("Created_At asc", ["b.mp4", "a.mp4", "c.mp4"]),
        ("FILENAME desc", ["c.mp4", "b.mp4", "a.mp4"]),
        ("  filename  ", ["a.mp4", "b.mp4", "c.mp4"]),
        (["status", "filename DESC"], ["c.mp4", "b.mp4", "a.mp4"]),
    ],
)
def test_order_by_accepts_model_columns_case_insensitively(
    db: Database, three_videos: list[str], order_by: str | list[str], expected: list[str]
) -> None:
    with db.session() as session:
        found = GenericRepository(session, Video).find_all(order_by=order_by)
    assert [v.filename for v in found] == expected


def test_limit_offset_and_filters(db: Database, three_videos: list[str]) -> None:
    with db.session() as session:
        repo = GenericRepository(session, Video)
        page = repo.find_all(order_by="filename", limit=2, offset=1)
        assert [v.filename for v in page] == ["b.mp4", "c.mp4"]
        assert [v.id for v in repo.find_all({"ID": three_videos[0]})] == [three_videos[0]]
        assert repo.count({"status": "REGISTERED"}) == 3
        assert repo.count({"filename": ["a.mp4", "c.mp4"]}) == 2


@pytest.mark.parametrize(
    "order_by",
    [
        "created_at; DROP TABLE videos",
        "created_at DESC, (SELECT 1)",
        "id desc nulls first",
        "1",
        "",
        "created_at DESCENDING",
        "videos.created_at",
        "created_at -- comment",
        "__tablename__",
        "metadata",
        "status' OR '1'='1",
        "\uff43reated_at",  # full-width letter c: not a column
    ],
)
def test_order_by_rejects_anything_but_a_column(db: Database, order_by: str) -> None:
    with db.session() as session:
        repo = GenericRepository(session, Video)
        with pytest.raises(InvalidQueryError):
            repo.find_all(order_by=order_by)
        # the table is still there and intact
        assert session.scalars(select(Video)).all() == []


def test_unknown_column_error_names_the_allowed_ones(sqlite_db: Database) -> None:
    with sqlite_db.session() as session, pytest.raises(InvalidQueryError) as info:
        GenericRepository(session, Video).find_all(order_by="password DESC")
    assert "unknown column 'password'" in str(info.value)
    assert "created_at" in str(info.value)


def test_unknown_filter_and_bad_paging_are_rejected(sqlite_db: Database) -> None:
    with sqlite_db.session() as session:
        repo = GenericRepository(session, Video)
        with pytest.raises(InvalidQueryError):
            repo.find_all({"1=1 OR status": "x"})
        with pytest.raises(InvalidQueryError):
            repo.find_all(limit=-1)


COLUMNS = {c.key.lower() for c in inspect(Video).column_attrs}


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order_by=st.text(max_size=40))
def test_any_string_is_a_column_or_a_clear_error(sqlite_db: Database, order_by: str) -> None:
    with sqlite_db.session() as session:
        repo = GenericRepository(session, Video)
        try:
            clauses = repo.parse_order_by(order_by)
        except InvalidQueryError:
            return
        # accepted: it named a real column; the ORDER BY is built from that column alone
        name, *direction = order_by.split()
        assert name.lower() in COLUMNS
        compiled = str(select(Video).order_by(*clauses).compile())
        expected = "DESC" if direction and direction[0].lower() == "desc" else "ASC"
        attribute = next(c for c in COLUMNS if c == name.lower())
        assert compiled.endswith(f"ORDER BY videos.{attribute} {expected}")
