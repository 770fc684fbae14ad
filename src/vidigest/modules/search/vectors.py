"""Nearest passages to a query vector, on the database at hand.

- SQLite: exact search in numpy over the stored float32 vectors of the passages the filters
  keep (one matrix product). Measured against the `sqlite-vec` extension in
  `bench/retrieval.py` ([benchmarks.md](../../../../docs/benchmarks.md)).
- PostgreSQL with pgvector: the HNSW index on `embedding_vec` (cosine distance), with
  iterative scans so that filters still return `k` rows. Iterative scans came with pgvector
  0.8: on an older pgvector the walk stops after `hnsw.ef_search` candidates and the filters
  apply to those, so a filtered query may return fewer than `k` passages (unfiltered ones are
  unaffected).
- PostgreSQL without pgvector: SemanticSearchUnavailable, with what is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVarTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Select,
    bindparam,
    cast,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Session

from vidigest.common.exceptions import VidigestError
from vidigest.modules.search.fulltext_index import VECTOR_COLUMN
from vidigest.modules.search.models import SearchPassage
from vidigest.modules.search.vector_index import (
    EMBEDDING_DIM,
    Vector,
    vector_literal,
    vector_status,
)
from vidigest.modules.transcription.models import COMPLETE, TranscriptRecord
from vidigest.modules.videos.models import Video

F32 = npt.NDArray[np.float32]
Ts = TypeVarTuple("Ts")
HNSW_EF_SEARCH = 100  # candidates the HNSW walk keeps (pgvector's default: 40)
ITERATIVE_SCAN_SINCE = (0, 8)  # the pgvector version that has hnsw.iterative_scan
_PGVECTOR_VERSION = "vidigest.pgvector_version"  # its key in a connection's info


class SemanticSearchUnavailable(VidigestError):
    """This database cannot run semantic search; the message says what is missing."""


@dataclass(frozen=True)
class SearchFilters:
    video_ids: tuple[str, ...] = ()
    since: datetime | None = None  # videos registered at or after
    until: datetime | None = None  # videos registered before
    language: str | None = None  # the transcript's language code

    def clauses(self) -> list[ColumnElement[bool]]:
        """WHERE clauses over search_passages joined with videos and transcripts."""
        where: list[ColumnElement[bool]] = [TranscriptRecord.state == COMPLETE]
        if self.video_ids:
            where.append(SearchPassage.video_id.in_(self.video_ids))
        if self.since is not None:
            where.append(Video.created_at >= self.since)
        if self.until is not None:
            where.append(Video.created_at < self.until)
        if self.language:
            where.append(SearchPassage.language == self.language)
        return where


NO_FILTERS = SearchFilters()


def filtered(statement: Select[*Ts], filters: SearchFilters) -> Select[*Ts]:
    """`statement` over search_passages, joined and narrowed by `filters`."""
    return (
        statement.join(TranscriptRecord, TranscriptRecord.id == SearchPassage.transcript_id)
        .join(Video, Video.id == SearchPassage.video_id)
        .where(*filters.clauses())
    )


def nearest(
    session: Session, query: F32, k: int, filters: SearchFilters
) -> list[tuple[int, float]]:
    """The `k` passages closest to the unit vector `query`: (passage id, cosine similarity),
    best first."""
    if k <= 0:
        return []
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        return _nearest_numpy(session, query, k, filters)
    status = vector_status(connection)
    if not status.available:
        raise SemanticSearchUnavailable(status.message)
    return _nearest_pgvector(session, query, k, filters)


def _nearest_numpy(
    session: Session, query: F32, k: int, filters: SearchFilters
) -> list[tuple[int, float]]:
    rows = session.execute(
        filtered(select(SearchPassage.id, SearchPassage.embedding), filters)
    ).all()
    if not rows:
        return []
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    matrix = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32)
    return top_k(ids, matrix.reshape(len(rows), EMBEDDING_DIM), query, k)


def top_k(ids: npt.NDArray[np.int64], matrix: F32, query: F32, k: int) -> list[tuple[int, float]]:
    """Exact nearest rows of `matrix` (unit rows) to `query` by cosine similarity."""
    scores = matrix @ np.asarray(query, dtype=np.float32).ravel()
    everything = np.arange(len(scores))
    chosen = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else everything
    chosen = chosen[np.argsort(-scores[chosen], kind="stable")]
    return [(int(ids[i]), float(scores[i])) for i in chosen]


def has_iterative_scan(version: str) -> bool:
    """Whether pgvector `version` (the extension's `extversion`, "0.8.0") has iterative index
    scans. A version that does not read as numbers counts as older: the setting is then not
    used (the query still runs)."""
    numbers = re.match(r"(\d+)\.(\d+)", version.strip())
    if numbers is None:
        return False
    return (int(numbers[1]), int(numbers[2])) >= ITERATIVE_SCAN_SINCE


def pgvector_version(connection: Connection) -> str:
    """The installed pgvector's version, read once per database connection (kept in its info:
    an extension update is seen by connections opened after it)."""
    info = connection.info
    if _PGVECTOR_VERSION not in info:
        info[_PGVECTOR_VERSION] = connection.execute(
            text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        ).scalar_one()
    return str(info[_PGVECTOR_VERSION])


def _nearest_pgvector(
    session: Session, query: F32, k: int, filters: SearchFilters
) -> list[tuple[int, float]]:
    session.execute(text(f"SET LOCAL hnsw.ef_search = {max(HNSW_EF_SEARCH, k)}"))
    if has_iterative_scan(pgvector_version(session.connection())):
        # with filters, keep walking the graph until k rows pass them; older pgvector reserves
        # the hnsw. prefix, so the SET would fail there (see the module's docstring)
        session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
    vectors = literal_column(f"{SearchPassage.__tablename__}.{VECTOR_COLUMN}", Vector())
    distance = vectors.op("<=>", return_type=Float())(cast(bindparam("query_vector"), Vector()))
    statement = filtered(select(SearchPassage.id, distance.label("distance")), filters)
    statement = statement.order_by(distance).limit(k)
    rows = session.execute(statement, {"query_vector": vector_literal(query)}).all()
    # relaxed order: nearly sorted; sort the k found exactly
    found = [(int(row.id), 1.0 - float(row.distance)) for row in rows]
    return sorted(found, key=lambda hit: -hit[1])
