"""Helpers for the API tests: settings for an in-process app, the client factory's type,
uploads, the error envelope, stored files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from vidigest.config import Settings

MakeClient = Callable[..., TestClient]


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


def stored_files(data_dir: Path) -> list[Path]:
    media = data_dir / "media"
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return dict(body["error"])


def upload(client: TestClient, path: Path, **fields: str) -> Any:
    with path.open("rb") as handle:
        return client.post("/videos", files={"file": (path.name, handle)}, data=fields)
