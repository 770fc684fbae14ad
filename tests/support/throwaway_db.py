"""A migrated PostgreSQL database that exists only for one test run or one benchmark."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from vidigest.database.migrate import upgrade
from vidigest.database.session import Database

POSTGRES_ADMIN_URL = os.environ.get(
    "VIDIGEST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def throwaway_database(prefix: str = "vidigest_test") -> Iterator[str]:
    """Create a database on the local server, migrate it, yield its URL, drop it."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        database = Database(url)
        upgrade(database.engine)
        database.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
