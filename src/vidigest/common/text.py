"""Making untrusted text storable: any database column, any backend."""

from __future__ import annotations

REPLACEMENT = "\ufffd"


def storable(value: str, limit: int | None = None) -> str:
    """`value` without NUL characters (PostgreSQL text cannot hold them), cut to `limit`
    characters with a visible marker when longer."""
    cleaned = value.replace("\x00", REPLACEMENT)
    if limit is not None and len(cleaned) > limit:
        marker = "…[truncated]"
        return cleaned[: max(0, limit - len(marker))] + marker
    return cleaned
