"""Search: passages by words, by meaning, or both (hybrid); and full-text search of segments.

Keyword search over passages: SQLite, the FTS5 table of migration 0008 (porter stemming, bm25
ranking); PostgreSQL, the GIN index on to_tsvector('english', text) (ts_rank_cd ranking). A
passage matches when it holds any of the query's words (stemmed); passages holding more of
them, and rarer ones, rank higher. The user's words never reach either query language as
syntax: they are cut into word tokens and passed as bound parameters.

Semantic search: the query's MiniLM embedding against the passages' (`vectors.py`). Hybrid
(the default): reciprocal rank fusion of both rankings, score = sum 1 / (RRF_K + rank).

`search_segments` is the older full-text search of single segments (migration 0002).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    Float,
    String,
    and_,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from vidigest.modules.search.fulltext_index import PASSAGES_FTS_TABLE
from vidigest.modules.search.index import TextEncoder
from vidigest.modules.search.models import SearchPassage
from vidigest.modules.search.vectors import (
    NO_FILTERS,
    SearchFilters,
    SemanticSearchUnavailable,
    filtered,
    nearest,
)
from vidigest.modules.speakers.naming import default_name
from vidigest.modules.transcription.models import COMPLETE, TranscriptSegment, TranscriptSpeaker
from vidigest.modules.videos.models import Video

_PASSAGES_FTS = table(PASSAGES_FTS_TABLE, column("rowid"))  # FTS5, outside the models
Mode = Literal["hybrid", "semantic", "keyword"]
MODES: tuple[Mode, ...] = ("hybrid", "semantic", "keyword")
RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)
CANDIDATES = 50  # passages each ranking contributes to the fusion, at least
# a passage whose cosine similarity to the query is below this is not a semantic match
# (MiniLM: unrelated text scores about 0.0-0.2; bench/retrieval.py)
MIN_SIMILARITY = 0.25
# words too common to find anything on their own (dropped unless nothing else is left)
STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "about",
        "we",
        "our",
        "he",
        "she",
        "his",
        "her",
    }
)

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 32

_SQLITE_SEARCH = text(
    """
    SELECT t.video_id, v.filename, s.position, s.start_time, s.end_time, s.text,
           s.speaker, sp.name AS speaker_name
    FROM transcript_segments_fts
    JOIN transcript_segments AS s ON s.id = transcript_segments_fts.rowid
    JOIN transcripts AS t ON t.id = s.transcript_id
    JOIN videos AS v ON v.id = t.video_id
    LEFT JOIN transcript_speakers AS sp
        ON sp.transcript_id = s.transcript_id AND sp.label = s.speaker
    WHERE transcript_segments_fts MATCH :match AND t.state = :complete
    ORDER BY bm25(transcript_segments_fts), v.created_at DESC, s.position
    LIMIT :limit OFFSET :offset
    """
)

_POSTGRES_SEARCH = text(
    """
    SELECT t.video_id, v.filename, s.position, s.start_time, s.end_time, s.text,
           s.speaker, sp.name AS speaker_name
    FROM transcript_segments AS s
    JOIN transcripts AS t ON t.id = s.transcript_id
    JOIN videos AS v ON v.id = t.video_id
    LEFT JOIN transcript_speakers AS sp
        ON sp.transcript_id = s.transcript_id AND sp.label = s.speaker,
    plainto_tsquery('english'::regconfig, :terms) AS q
    WHERE to_tsvector('english'::regconfig, s.text) @@ q AND t.state = :complete
    ORDER BY ts_rank(to_tsvector('english'::regconfig, s.text), q) DESC,
             v.created_at DESC, s.position
    LIMIT :limit OFFSET :offset
    """
)


@dataclass(frozen=True)
class SearchHit:
    video_id: str
    filename: str
    segment_index: int
    start: float
    end: float
    text: str
    speaker: str | None = None  # the segment's speaker label (None: not diarized)
    speaker_name: str | None = None  # the name shown: the one given, else "Speaker N"


def _shown_name(label: str | None, name: str | None) -> str | None:
    """The speaker's name as shown: the one given, else "Speaker N" (None: not diarized)."""
    return name or (label and default_name(label))


def search_terms(query: str) -> list[str]:
    """The word tokens of `query` (at most MAX_TERMS): punctuation and operators are dropped."""
    return _WORD.findall(query)[:MAX_TERMS]


def fts5_match(terms: list[str]) -> str:
    """An FTS5 MATCH expression that requires every term: each one a quoted string."""
    return " ".join(f'"{term}"' for term in terms)  # \\w+ tokens hold no double quote


def search_segments(
    session: Session, query: str, *, limit: int = 20, offset: int = 0
) -> list[SearchHit]:
    terms = search_terms(query)
    if not terms:
        return []
    if session.get_bind().dialect.name == "sqlite":
        rows = session.execute(
            _SQLITE_SEARCH,
            {"match": fts5_match(terms), "complete": COMPLETE, "limit": limit, "offset": offset},
        )
    else:
        rows = session.execute(
            _POSTGRES_SEARCH,
            {"terms": " ".join(terms), "complete": COMPLETE, "limit": limit, "offset": offset},
        )
    return [
        SearchHit(
            video_id=row.video_id,
            filename=row.filename,
            segment_index=row.position,
            start=float(row.start_time),
            end=float(row.end_time),
            text=row.text,
            speaker=row.speaker,
            speaker_name=_shown_name(row.speaker, row.speaker_name),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class PassageHit:
    passage_id: int
    video_id: str
    filename: str
    first_segment: int
    last_segment: int
    start: float
    end: float
    text: str
    language: str
    score: float  # the fused (hybrid), cosine (semantic) or full-text score; higher is better
    keyword_rank: int | None = None  # 1-based rank in each list it came from
    semantic_rank: int | None = None
    similarity: float | None = None  # cosine similarity to the query, when semantic ran
    speaker: str | None = None  # the speaker of the passage's first segment
    speaker_name: str | None = None


@dataclass(frozen=True)
class SearchPage:
    query: str
    mode: Mode
    hits: list[PassageHit]
    notice: str | None = None  # e.g. semantic search is off on this database, and why


def _keyword_terms(query: str) -> list[str]:
    terms = [t.lower() for t in search_terms(query)]
    content = [t for t in terms if t not in STOP_WORDS]
    return list(dict.fromkeys(content or terms))


def keyword_passages(
    session: Session, query: str, k: int, filters: SearchFilters = NO_FILTERS
) -> list[tuple[int, float]]:
    """Passages holding any of the query's words (stemmed): (id, score), best first."""
    terms = _keyword_terms(query)
    if not terms or k <= 0:
        return []
    if session.get_bind().dialect.name == "sqlite":
        rank = literal_column(f"bm25({PASSAGES_FTS_TABLE})", Float())
        statement = filtered(
            select(SearchPassage.id, rank.label("rank")).join(
                _PASSAGES_FTS, _PASSAGES_FTS.c.rowid == SearchPassage.id
            ),
            filters,
        ).where(text(f"{PASSAGES_FTS_TABLE} MATCH :match"))
        match = " OR ".join(f'"{term}"' for term in terms)  # \\w+ tokens hold no quote
        rows = session.execute(statement.order_by(rank).limit(k), {"match": match}).all()
        return [(int(row.id), -float(row.rank)) for row in rows]  # bm25: lower is better
    config = literal_column("'english'::regconfig", String())
    vector = func.to_tsvector(config, SearchPassage.text)
    tsquery = func.websearch_to_tsquery(config, bindparam("terms"))
    score = func.ts_rank_cd(vector, tsquery, type_=Float())
    statement = filtered(select(SearchPassage.id, score.label("score")), filters).where(
        vector.op("@@")(tsquery)
    )
    rows = session.execute(
        statement.order_by(score.desc(), SearchPassage.id).limit(k),
        {"terms": " or ".join(terms)},
    ).all()
    return [(int(row.id), float(row.score)) for row in rows]


def semantic_passages(
    session: Session,
    query: str,
    encoder: TextEncoder,
    k: int,
    filters: SearchFilters = NO_FILTERS,
    min_similarity: float = MIN_SIMILARITY,
) -> list[tuple[int, float]]:
    """Passages nearest in meaning to the query: (id, cosine similarity), best first;
    SemanticSearchUnavailable when the database cannot run it."""
    if not query.strip() or k <= 0:
        return []
    vector = encoder.encode([query])[0]
    return [hit for hit in nearest(session, vector, k, filters) if hit[1] >= min_similarity]


def fuse(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: each id scores sum 1 / (k + rank) over the rankings it is in."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, passage_id in enumerate(ranking, start=1):
            scores[passage_id] = scores.get(passage_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def search_passages(
    session: Session,
    query: str,
    *,
    encoder: TextEncoder,
    mode: Mode = "hybrid",
    filters: SearchFilters = NO_FILTERS,
    limit: int = 20,
    offset: int = 0,
) -> SearchPage:
    """One page of passages for `query`. Semantic mode on a database that cannot run it
    raises SemanticSearchUnavailable; hybrid mode then answers by words alone, with a notice."""
    depth = max(CANDIDATES, offset + limit)
    keyword: list[tuple[int, float]] = []
    semantic: list[tuple[int, float]] = []
    notice = None
    if mode in ("hybrid", "keyword"):
        keyword = keyword_passages(session, query, depth, filters)
    if mode in ("hybrid", "semantic"):
        try:
            semantic = semantic_passages(session, query, encoder, depth, filters)
        except SemanticSearchUnavailable as exc:
            if mode == "semantic":
                raise
            notice = str(exc)
    if mode == "keyword":
        ranked = keyword
    elif mode == "semantic":
        ranked = semantic
    else:
        ranked = fuse([[i for i, _ in keyword], [i for i, _ in semantic]])
    page = ranked[offset : offset + limit]
    keyword_rank = {pid: rank for rank, (pid, _) in enumerate(keyword, start=1)}
    semantic_rank = {pid: rank for rank, (pid, _) in enumerate(semantic, start=1)}
    similarity = dict(semantic)
    rows = {row.id: row for row in _passage_rows(session, [pid for pid, _ in page])}
    hits = [
        PassageHit(
            passage_id=pid,
            video_id=row.video_id,
            filename=row.filename,
            first_segment=row.first_segment,
            last_segment=row.last_segment,
            start=float(row.start_time),
            end=float(row.end_time),
            text=row.text,
            language=row.language,
            score=score,
            keyword_rank=keyword_rank.get(pid),
            semantic_rank=semantic_rank.get(pid),
            similarity=similarity.get(pid),
            speaker=row.speaker,
            speaker_name=_shown_name(row.speaker, row.speaker_name),
        )
        for pid, score in page
        if (row := rows.get(pid)) is not None
    ]
    return SearchPage(query=query, mode=mode, hits=hits, notice=notice)


def _passage_rows(session: Session, ids: list[int]) -> Sequence[Any]:
    """The passages `ids` with their video's file name and their first segment's speaker."""
    if not ids:
        return []
    statement = (
        select(
            SearchPassage.id,
            SearchPassage.video_id,
            SearchPassage.first_segment,
            SearchPassage.last_segment,
            SearchPassage.start_time,
            SearchPassage.end_time,
            SearchPassage.text,
            SearchPassage.language,
            Video.filename,
            TranscriptSegment.speaker,
            TranscriptSpeaker.name.label("speaker_name"),
        )
        .join(Video, Video.id == SearchPassage.video_id)
        .outerjoin(
            TranscriptSegment,
            and_(
                TranscriptSegment.transcript_id == SearchPassage.transcript_id,
                TranscriptSegment.position == SearchPassage.first_segment,
            ),
        )
        .outerjoin(
            TranscriptSpeaker,
            and_(
                TranscriptSpeaker.transcript_id == SearchPassage.transcript_id,
                TranscriptSpeaker.label == TranscriptSegment.speaker,
            ),
        )
        .where(SearchPassage.id.in_(ids))
    )
    return session.execute(statement).all()
