"""Shared fixtures: a migrated SQLite database per test, and a throwaway PostgreSQL database
per test run (created on the local server, dropped at the end)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.throwaway_db import throwaway_database
from vidigest.database.migrate import upgrade
from vidigest.database.models import Base
from vidigest.database.session import Database


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the user's ~/.local/share/vidigest."""
    monkeypatch.setenv("VIDIGEST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from vidigest.config import get_settings

    get_settings.cache_clear()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'vidigest.db'}")
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL, migrated, dropped after the run."""
    with throwaway_database() as url:
        yield url


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url)
    yield database
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Database:
    """Runs the test on both backends."""
    fixture = "sqlite_db" if request.param == "sqlite" else "postgres_db"
    database: Database = request.getfixturevalue(fixture)
    return database
