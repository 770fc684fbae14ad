"""The search indexes live outside the SQLAlchemy models: the full-text indexes (FTS5 virtual
tables with triggers on SQLite, GIN expression indexes on PostgreSQL) and, on PostgreSQL with
pgvector, the `embedding_vec` column of the passages and its HNSW index. Migrations create
them (`vector_index.py` the pgvector ones). Schema comparison (Alembic autogenerate, the drift
test) must skip them: `include_object` does that.
"""

from __future__ import annotations

from typing import Any

FTS_TABLE = "transcript_segments_fts"  # SQLite FTS5 virtual table (+ its shadow tables)
FTS_INDEX = "ix_transcript_segments_text_fts"  # PostgreSQL GIN index on to_tsvector(...)
PASSAGES_FTS_TABLE = "search_passages_fts"  # SQLite FTS5 over search_passages(text)
PASSAGES_FTS_INDEX = "ix_search_passages_text_fts"  # PostgreSQL GIN index
VECTOR_COLUMN = "embedding_vec"  # PostgreSQL + pgvector: vector(384) of search_passages
VECTOR_INDEX = "ix_search_passages_embedding_hnsw"  # its HNSW index (cosine)
TEXT_SEARCH_CONFIG = "english"  # PostgreSQL text search configuration (stemming, stop words)


def is_search_object(name: str | None) -> bool:
    return name is not None and (
        name in (FTS_INDEX, PASSAGES_FTS_INDEX, VECTOR_COLUMN, VECTOR_INDEX)
        or name.startswith((FTS_TABLE, PASSAGES_FTS_TABLE))
    )


def include_object(
    _object: Any, name: str | None, _type: str, _reflected: bool, _compare_to: Any
) -> bool:
    """Alembic `include_object` hook: everything except the search objects."""
    return not is_search_object(name)
