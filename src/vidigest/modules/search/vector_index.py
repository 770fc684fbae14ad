"""The pgvector part of the schema on PostgreSQL: the extension, the `embedding_vec` column of
the passages and its HNSW index. Created by the passages' migration when the server offers the
extension, and again by every `vidigest db upgrade` (`ensure_vector_index`), so a server that
gains pgvector later gets it then, with the passages already stored copied in. Without
pgvector, semantic search is off (keyword search works) and `vector_status` says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, cast, column, inspect, select, table, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import UserDefinedType

from vidigest.modules.search.fulltext_index import VECTOR_COLUMN, VECTOR_INDEX

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2 (vidigest.embedding.encoder.EMBEDDING_DIM)
PASSAGES = "search_passages"


class Vector(UserDefinedType[str]):
    """pgvector's `vector(384)`, bound as its text form."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return f"vector({EMBEDDING_DIM})"


# the pgvector column, outside the model (it exists only where pgvector does): for writes
PASSAGE_VECTORS = table(PASSAGES, column("id"), column(VECTOR_COLUMN, Vector()))


@dataclass(frozen=True)
class VectorStatus:
    available: bool  # semantic search can run on this database
    backend: str  # "numpy" (SQLite: exact search) | "pgvector" | "none"
    message: str  # what a user reads: what is there, or what is missing and how to add it


MISSING_PGVECTOR = (
    "semantic search is disabled: this PostgreSQL server has no pgvector extension "
    "(install pgvector on the server, e.g. the postgresql-NN-pgvector package, or use a "
    "managed PostgreSQL that offers it, then run `vidigest db upgrade`); keyword search works"
)


def _extension_available(connection: Connection) -> bool:
    row = connection.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).first()
    return row is not None


def _extension_installed(connection: Connection) -> bool:
    found = connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'"))
    return found.first() is not None


def _has_column(connection: Connection) -> bool:
    columns = inspect(connection).get_columns(PASSAGES)
    return any(column["name"] == VECTOR_COLUMN for column in columns)


def vector_status(connection: Connection) -> VectorStatus:
    """Whether semantic search can run on this database, and what is missing if not."""
    if connection.dialect.name == "sqlite":
        return VectorStatus(True, "numpy", "semantic search: exact (numpy) over stored vectors")
    if not inspect(connection).has_table(PASSAGES):
        return VectorStatus(False, "none", "semantic search: the schema is not migrated yet")
    if _extension_installed(connection) and _has_column(connection):
        return VectorStatus(True, "pgvector", "semantic search: pgvector HNSW index")
    return VectorStatus(False, "none", MISSING_PGVECTOR)


def ensure_vector_index(connection: Connection) -> VectorStatus:
    """PostgreSQL: create the extension, the column and the HNSW index when the server offers
    pgvector (idempotent), copying in the vectors of passages stored before. Runs in the
    caller's transaction. SQLite: nothing to do."""
    if connection.dialect.name == "sqlite" or not inspect(connection).has_table(PASSAGES):
        return vector_status(connection)
    if not _extension_installed(connection):
        if not _extension_available(connection):
            return vector_status(connection)
        try:
            with connection.begin_nested():  # a refusal (no privilege) must not end the tx
                connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        except DBAPIError as exc:
            return VectorStatus(
                False,
                "none",
                "semantic search is disabled: pgvector is available on this server but this "
                f"user may not create it ({type(exc.orig).__name__}); ask an administrator to "
                "run CREATE EXTENSION vector, then `vidigest db upgrade`; keyword search works",
            )
    if not _has_column(connection):
        connection.execute(
            text(f"ALTER TABLE {PASSAGES} ADD COLUMN {VECTOR_COLUMN} vector({EMBEDDING_DIM})")
        )
        _copy_stored_vectors(connection)
    connection.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {VECTOR_INDEX} ON {PASSAGES} "
            f"USING hnsw ({VECTOR_COLUMN} vector_cosine_ops)"
        )
    )
    return vector_status(connection)


def _copy_stored_vectors(connection: Connection) -> None:
    """Fill `embedding_vec` from the float32 bytes of passages stored without it."""
    import numpy as np

    stored = table(PASSAGES, column("id"), column("embedding"), column(VECTOR_COLUMN))
    rows = connection.execute(
        select(stored.c.id, stored.c.embedding).where(stored.c[VECTOR_COLUMN].is_(None))
    ).all()
    if rows:
        store_vectors(
            connection, [(row.id, np.frombuffer(row.embedding, np.float32)) for row in rows]
        )


def store_vectors(connection: Connection, vectors: Sequence[tuple[int, object]]) -> None:
    """Write (passage id, vector) pairs, at least one, into the pgvector column."""
    connection.execute(
        update(PASSAGE_VECTORS)
        .where(PASSAGE_VECTORS.c.id == bindparam("pid"))
        .values({VECTOR_COLUMN: cast(bindparam("vec"), Vector())}),
        [{"pid": pid, "vec": vector_literal(vector)} for pid, vector in vectors],
    )


def vector_literal(vector: object) -> str:
    """pgvector's text form of a vector: '[0.1,0.2,...]'."""
    import numpy as np

    values = np.asarray(vector, dtype=np.float32).ravel()
    return "[" + ",".join(f"{x:.7g}" for x in values.tolist()) + "]"
