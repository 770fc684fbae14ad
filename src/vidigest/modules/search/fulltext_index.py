"""The full-text index lives outside the SQLAlchemy models (an FTS5 virtual table with triggers
on SQLite, a GIN expression index on PostgreSQL); it is created by a migration. Schema
comparison (Alembic autogenerate, the drift test) must skip it: `include_object` does that.
"""

from __future__ import annotations

from typing import Any

FTS_TABLE = "transcript_segments_fts"  # SQLite FTS5 virtual table (+ its shadow tables)
FTS_INDEX = "ix_transcript_segments_text_fts"  # PostgreSQL GIN index on to_tsvector(...)
TEXT_SEARCH_CONFIG = "english"  # PostgreSQL text search configuration (stemming, stop words)


def is_search_object(name: str | None) -> bool:
    return name is not None and (name == FTS_INDEX or name.startswith(FTS_TABLE))


def include_object(
    _object: Any, name: str | None, _type: str, _reflected: bool, _compare_to: Any
) -> bool:
    """Alembic `include_object` hook: everything except the full-text search objects."""
    return not is_search_object(name)
