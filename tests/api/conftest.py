"""An app per test over a fresh SQLite database or the test PostgreSQL database, served in
process through Starlette's TestClient (real HTTP semantics, real database, no mocks)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vidigest.api import create_app
from vidigest.config import Settings

MakeClient = Callable[..., TestClient]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: a new SQLite file, or the test PostgreSQL database (emptied after)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'api.db'}"
    return str(request.getfixturevalue("postgres_db").url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'api.db'}"


def api_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings for an in-process app. TestClient sends `Host: testserver`: the tests name it
    in the Host allow-list like an operator would name their own host."""
    overrides.setdefault("allowed_hosts", "testserver")
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        kafka_bootstrap=overrides.pop("kafka_bootstrap", None),
        retry_backoff_seconds=0.1,
        **overrides,
    )


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[MakeClient]:
    """make_client(database_url, run_workers=False, **settings) -> a started TestClient."""
    with ExitStack() as stack:

        def make(database_url: str, *, run_workers: bool = False, **overrides: Any) -> TestClient:
            settings = api_settings(tmp_path / "data", database_url, **overrides)
            app = create_app(settings, run_workers=run_workers)
            return stack.enter_context(TestClient(app, raise_server_exceptions=False))

        yield make


def stored_files(data_dir: Path) -> list[Path]:
    media = data_dir / "media"
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []
