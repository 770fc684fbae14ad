"""Full-text search over transcript segments.

SQLite: the FTS5 table of migration 0002 (porter stemming, bm25 ranking). PostgreSQL: the GIN
index on to_tsvector('english', text) (ts_rank ranking). The user's words never reach either
query language as syntax: they are cut into word tokens and passed as bound parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from vidigest.modules.speakers.naming import default_name
from vidigest.modules.transcription.models import COMPLETE

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
            speaker_name=row.speaker_name or (row.speaker and default_name(row.speaker)),
        )
        for row in rows
    ]
