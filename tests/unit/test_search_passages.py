"""Search over passages: built from neighbouring segments, embedded once by the indexing step
(idempotent, through the shared message handler), found by words (stemmed, across segment
boundaries), by meaning and by both; deleted with the video. On PostgreSQL without pgvector
semantic search says what is missing and keyword search still works."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text

from tests.support.factories import (
    count,
    event_message,
    message_handler,
    register_video,
    transcription_completed_event,
)
from tests.support.retrieval import (
    HYBRID_MARGIN_AT_5,
    answers,
    first_rank,
    load_questions,
    recall_at,
)
from tests.support.search import encoder, indexed_video, sample_talk
from vidigest.common.types import Segment
from vidigest.database.session import Database, db_session_context
from vidigest.messaging.transport import Outcome
from vidigest.modules.search.models import SearchPassage
from vidigest.modules.search.passages import TARGET_WORDS, build_passages
from vidigest.modules.search.service import fuse, search_passages
from vidigest.modules.search.step import IndexingStep
from vidigest.modules.search.vector_index import MISSING_PGVECTOR, vector_status
from vidigest.modules.search.vectors import SearchFilters, SemanticSearchUnavailable
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.service import VideoService


def test_passages_cover_every_segment_with_overlap() -> None:
    segments = sample_talk().segments
    passages = build_passages(segments)
    covered = {i for p in passages for i in range(p.first_segment, p.last_segment + 1)}
    assert covered == {s.index for s in segments}
    for a, b in itertools.pairwise(passages):
        assert b.first_segment <= a.last_segment  # neighbours overlap
        assert a.start <= b.start
    assert all(len(p.text.split()) >= TARGET_WORDS for p in passages[:-1])
    assert build_passages([Segment(index=0, start=0, end=1, text="  ")]) == []


def test_fuse_ranks_what_both_lists_agree_on_first() -> None:
    fused = fuse([[1, 2, 3], [3, 4, 1]])
    assert [i for i, _ in fused][:2] == [1, 3] and {i for i, _ in fused} == {1, 2, 3, 4}


def test_indexing_step_once_per_transcript_and_deleted_with_the_video(db: Database) -> None:
    video = register_video(db)
    with db_session_context(db.session_factory) as session:
        TranscriptService(session).save(video.id, sample_talk())
    handler = message_handler(IndexingStep(encoder(), db.session_factory), db.session_factory)
    message = event_message(transcription_completed_event(video.id))
    assert handler(message).outcome is Outcome.PROCESSED
    stored = count(db, SearchPassage, video_id=video.id)
    assert stored == len(build_passages(sample_talk().segments)) > 3
    assert handler(message).outcome is Outcome.DUPLICATE  # redelivered: nothing twice
    assert count(db, SearchPassage, video_id=video.id) == stored
    with db_session_context(db.session_factory) as session:
        VideoService(session).fail(video.id, "summary", "gave up")
        VideoService(session).delete(video.id)
    assert count(db, SearchPassage) == 0
    if db.engine.dialect.name == "sqlite":  # the full-text index forgot them too
        with db.engine.connect() as connection:
            left = connection.execute(
                text("SELECT count(*) FROM search_passages_fts WHERE text MATCH 'honey'")
            ).scalar()
        assert left == 0


def test_indexing_a_video_deleted_meanwhile_is_skipped(sqlite_db: Database) -> None:
    video = register_video(sqlite_db)
    handler = message_handler(
        IndexingStep(encoder(), sqlite_db.session_factory), sqlite_db.session_factory
    )
    result = handler(event_message(transcription_completed_event(video.id)))
    assert result.outcome is Outcome.DUPLICATE  # skipped: no transcript, nothing stored
    assert count(sqlite_db, SearchPassage) == 0
    with sqlite_db.session() as session:  # the video's status is untouched
        assert VideoService(session).get(video.id).status == "REGISTERED"


def test_keyword_search_is_stemmed_and_spans_segments(db: Database) -> None:
    video_id = indexed_video(db)
    segments = sample_talk().segments
    # two words said on either side of a segment boundary, each rare in the talk
    left, right = segments[3].text.split()[-1], segments[4].text.split()[0]
    with db.session() as session:
        stems = search_passages(session, "volcano erupting", encoder=encoder(), mode="keyword")
        across = search_passages(session, f"{left} {right}", encoder=encoder(), mode="keyword")
        nothing = search_passages(session, "giraffes", encoder=encoder(), mode="keyword")
    assert stems.hits
    assert all("volcan" in h.text.lower() or "erupt" in h.text.lower() for h in stems.hits)
    assert left in across.hits[0].text and right in across.hits[0].text
    assert across.hits[0].video_id == video_id and nothing.hits == []


def test_filters_and_pages(sqlite_db: Database) -> None:
    first = indexed_video(sqlite_db, name="one.mp4")
    second = indexed_video(sqlite_db, name="two.mp4")
    with sqlite_db.session() as session:
        both = search_passages(session, "magma", encoder=encoder(), mode="hybrid", limit=50)
        only = search_passages(
            session, "magma", encoder=encoder(), filters=SearchFilters(video_ids=(second,))
        )
        french = search_passages(
            session, "magma", encoder=encoder(), filters=SearchFilters(language="fr")
        )
        page2 = search_passages(session, "magma", encoder=encoder(), limit=2, offset=2)
    assert {h.video_id for h in both.hits} == {first, second}
    assert only.hits and {h.video_id for h in only.hits} == {second}
    assert french.hits == []
    assert [h.passage_id for h in page2.hits] == [h.passage_id for h in both.hits[2:4]]


def test_hybrid_beats_keyword_on_paraphrased_questions(sqlite_db: Database) -> None:
    indexed_video(sqlite_db)
    with sqlite_db.session() as session:
        passages = session.query(SearchPassage.id, SearchPassage.text).all()
        ranks: dict[str, list[int | None]] = {"keyword": [], "hybrid": []}
        for question in load_questions("sample"):
            right = {pid for pid, passage in passages if answers(question.anchor, passage)}
            assert right, question  # the anchor is in the talk
            for mode, found in ranks.items():
                page = search_passages(
                    session,
                    question.query,
                    encoder=encoder(),
                    mode="keyword" if mode == "keyword" else "hybrid",
                    limit=10,
                )
                found.append(first_rank([h.passage_id for h in page.hits], right))
    keyword, hybrid = recall_at(ranks["keyword"], 5), recall_at(ranks["hybrid"], 5)
    assert hybrid >= keyword + HYBRID_MARGIN_AT_5, (keyword, hybrid)


def test_semantic_search_needs_pgvector_on_postgresql(postgres_db: Database) -> None:
    """The test server (Debian's PostgreSQL) has no pgvector: semantic search says what is
    missing; hybrid answers by words with that notice; keyword search works as ever."""
    indexed_video(postgres_db)
    with postgres_db.session() as session:
        status = vector_status(session.connection())
        assert not status.available and status.message == MISSING_PGVECTOR
        with pytest.raises(SemanticSearchUnavailable, match="pgvector"):
            search_passages(session, "magma", encoder=encoder(), mode="semantic")
        hybrid = search_passages(session, "magma", encoder=encoder())
        keyword = search_passages(session, "magma", encoder=encoder(), mode="keyword")
    assert hybrid.notice == MISSING_PGVECTOR and hybrid.hits
    assert [h.passage_id for h in hybrid.hits] == [h.passage_id for h in keyword.hits]


def test_reindex_follows_an_edited_transcript(sqlite_db: Database) -> None:
    """An edit changes a segment's text; `reindex_video` (as the indexing stage does) replaces the
    video's passages, so search finds the new words and no longer the old ones."""
    from vidigest.modules.search.index import reindex_video
    from vidigest.modules.transcription.models import TranscriptSegment

    video_id = indexed_video(sqlite_db)
    with db_session_context(sqlite_db.session_factory) as session:
        record = TranscriptService(session).find_record(video_id)
        assert record is not None
        session.query(TranscriptSegment).filter_by(transcript_id=record.id, position=0).update(
            {"text": "A zeppelin airship drifted over the hive."}
        )
        before = search_passages(session, "zeppelin", encoder=encoder(), mode="keyword")
        assert before.hits == []
        assert reindex_video(session, video_id, encoder()) > 0
    with sqlite_db.session() as session:
        after = search_passages(session, "zeppelin", encoder=encoder(), mode="keyword")
        semantic = search_passages(session, "an airship", encoder=encoder(), mode="semantic")
    assert after.hits and after.hits[0].first_segment == 0
    assert semantic.hits[0].first_segment == 0


def test_a_passage_never_spans_a_change_of_speaker() -> None:
    said = [("SPEAKER_1", "Welcome to the penguin panel."), ("SPEAKER_2", "Thanks for having me.")]
    said += [("SPEAKER_2", "Penguins dive for krill all day long.")]
    segments = [
        Segment(index=i, start=2.0 * i, end=2.0 * i + 2, text=text, speaker=who)
        for i, (who, text) in enumerate(said)
    ]
    spans = [(p.first_segment, p.last_segment) for p in build_passages(segments)]
    assert spans == [(0, 0), (1, 2)]
