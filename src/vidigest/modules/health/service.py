"""Liveness and readiness: is the process up, can it reach its database, broker and bucket."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text

from vidigest import __version__
from vidigest.common.exceptions import StorageError
from vidigest.config import Settings
from vidigest.database.session import Database
from vidigest.storage import MediaStore


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass(frozen=True)
class Readiness:
    checks: list[Check] = field(default_factory=list)
    version: str = __version__

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "unavailable",
            "version": self.version,
            "checks": [asdict(c) for c in self.checks],
        }


def check_database(database: Database) -> Check:
    started = time.perf_counter()
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return Check(
            "database",
            False,
            f"{type(exc).__name__}: {exc}".splitlines()[0],
            time.perf_counter() - started,
        )
    return Check("database", True, database.engine.dialect.name, time.perf_counter() - started)


def check_broker(settings: Settings, timeout: float = 3.0) -> Check:
    from vidigest.providers.kafka.admin import broker_reachable

    started = time.perf_counter()
    ok = broker_reachable(settings, timeout=timeout)
    detail = settings.kafka_bootstrap or ""
    if not ok:
        detail = f"no Kafka broker answered at {detail} within {timeout:.0f}s"
    return Check("kafka", ok, detail, time.perf_counter() - started)


def check_store(store: MediaStore) -> Check:
    """The bucket answers (a local directory is the disk the database check already uses)."""
    started = time.perf_counter()
    try:
        store.check()
    except StorageError as exc:
        return Check("storage", False, str(exc), time.perf_counter() - started)
    return Check("storage", True, store.kind, time.perf_counter() - started)


def readiness(settings: Settings, database: Database, store: MediaStore | None = None) -> Readiness:
    checks = [check_database(database)]
    if not settings.embedded:
        checks.append(check_broker(settings))
    if store is not None and store.kind != "local":
        checks.append(check_store(store))
    return Readiness(checks)
