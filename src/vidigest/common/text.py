"""Making untrusted text storable: any database column, any backend."""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"


def storable(value: str, limit: int | None = None) -> str:
    """`value` without NUL characters (PostgreSQL text cannot hold them), cut to `limit`
    characters with a visible marker when longer."""
    cleaned = value.replace("\x00", REPLACEMENT)
    if limit is not None and len(cleaned) > limit:
        marker = "…[truncated]"
        return cleaned[: max(0, limit - len(marker))] + marker
    return cleaned


# What an exception's text may drag along that a user must never read: SQLAlchemy's statement
# and parameters (transcript text, other users' data), its help link, a traceback, and
# absolute server paths (where the data directory is, whose home it is in).
_SQL_DETAIL = re.compile(r"\s*(\[SQL:|\[parameters:|\(Background on this error at:).*", re.DOTALL)
_TRACEBACK = re.compile(r"\s*Traceback \(most recent call last\):.*", re.DOTALL)
# an absolute path: a "/" not inside a URL or a word, then at least one more component
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s/'\"<>|]+/)+([^\s/'\"<>|]+)")


def user_reason(reason: str, limit: int = 4096) -> str:
    """`reason` made fit for users: no SQL statement or parameters, no traceback, and every
    absolute path cut to its last component (the file name the user knows). The one filter
    every FAILED reason passes through before it is stored; the messages themselves are
    written to say what happened without those details in the first place."""
    text = _SQL_DETAIL.sub("", reason)
    text = _TRACEBACK.sub("", text)
    text = _ABSOLUTE_PATH.sub(r"\1", text)
    return storable(text.strip() or "failed", limit)
