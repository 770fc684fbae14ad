"""HTTP routes of search (passages by words and meaning) and questions (ask)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from vidigest.common.exceptions import VidigestError
from vidigest.http.deps import SessionDep, StateDep
from vidigest.http.errors import ApiError, ErrorCode, error_responses
from vidigest.modules.search.ask import Answer, ask
from vidigest.modules.search.schemas import (
    AnswerOut,
    AskIn,
    CitationOut,
    QuoteOut,
    SearchResult,
    SearchResults,
)
from vidigest.modules.search.service import PassageHit, search_passages
from vidigest.modules.search.vectors import SearchFilters, SemanticSearchUnavailable
from vidigest.modules.videos.service import VideoService

router = APIRouter(tags=["search"])


def player_link(video_id: str, seconds: float) -> str:
    """The web UI's player on `video_id`, at `seconds` (whole seconds, rounded down)."""
    return f"/#/videos/{video_id}?t={int(max(0.0, seconds))}"


def result_of(hit: PassageHit) -> SearchResult:
    return SearchResult(
        video_id=hit.video_id,
        filename=hit.filename,
        segment_index=hit.first_segment,
        last_segment_index=hit.last_segment,
        start=hit.start,
        end=hit.end,
        text=hit.text,
        language=hit.language,
        score=hit.score,
        keyword_rank=hit.keyword_rank,
        semantic_rank=hit.semantic_rank,
        link=player_link(hit.video_id, hit.start),
        speaker=hit.speaker,
        speaker_name=hit.speaker_name,
    )


def _moment(value: str | None, name: str, *, end: bool) -> datetime | None:
    """A day (YYYY-MM-DD, UTC: `since` from its start, `until` to its end) or a date and time
    with its time zone (ISO 8601)."""
    if not value:
        return None
    try:
        if len(value) == 10:
            start = datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError):  # not a date, or the last day there is
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(
            ErrorCode.VALIDATION_ERROR,
            f"{name}: give a day (2024-05-31) or a date and time with its time zone "
            "(2024-05-31T12:00:00Z)",
        )
    return moment


@router.get(
    "/search",
    response_model=SearchResults,
    summary="Search every transcript by words and meaning",
    responses=error_responses(422, 503),
)
def search(
    session: SessionDep,
    state: StateDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="What to find")],
    mode: Annotated[Literal["hybrid", "semantic", "keyword"], Query()] = "hybrid",
    video_id: Annotated[list[str] | None, Query(max_length=100, description="Only these")] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="Videos added from (a day or a time)")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=40, description="Videos added before (a day or a time)")
    ] = None,
    language: Annotated[str | None, Query(max_length=16, description="e.g. en")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> SearchResults:
    filters = SearchFilters(
        video_ids=tuple(video_id or ()),
        since=_moment(since, "since", end=False),
        until=_moment(until, "until", end=True),
        language=language or None,
    )
    try:
        page = search_passages(
            session,
            q,
            encoder=state.vidigest.models.encoder(),
            mode=mode,
            filters=filters,
            limit=limit,
            offset=offset,
        )
    except SemanticSearchUnavailable as exc:
        raise ApiError(ErrorCode.SEMANTIC_SEARCH_UNAVAILABLE, str(exc)) from exc
    return SearchResults(
        query=q,
        mode=page.mode,
        notice=page.notice,
        limit=limit,
        offset=offset,
        results=[result_of(hit) for hit in page.hits],
    )


def answer_out(answer: Answer) -> AnswerOut:
    notice = answer.details.get("notice")
    return AnswerOut(
        question=answer.question,
        method=answer.method,
        answer=answer.text,
        quotes=[
            QuoteOut(
                video_id=q.video_id,
                filename=q.filename,
                start=q.start,
                end=q.end,
                text=q.text,
                link=player_link(q.video_id, q.start),
            )
            for q in answer.quotes
        ],
        citations=[
            CitationOut(
                video_id=c.video_id,
                filename=c.filename,
                at=c.at,
                link=player_link(c.video_id, c.at),
            )
            for c in answer.citations
        ],
        moments=[result_of(hit) for hit in answer.moments],
        fallback_reason=answer.fallback_reason,
        notice=notice if isinstance(notice, str) else None,
    )


def _ask(session: SessionDep, state: StateDep, question: str, video_ids: list[str]) -> AnswerOut:
    reason: str | None = None
    try:
        chat = state.vidigest.models.chat()
    except VidigestError as exc:  # a misconfigured LLM: answer offline, say why
        chat, reason = None, f"the LLM is not usable: {exc}"
    answer = ask(
        session,
        question,
        encoder=state.vidigest.models.encoder(),
        chat=chat,
        filters=SearchFilters(video_ids=tuple(video_ids)),
    )
    out = answer_out(answer)
    if reason is not None and out.fallback_reason is None:
        out.fallback_reason = reason
    return out


@router.post(
    "/ask",
    response_model=AnswerOut,
    summary="Ask the library: the best moments and an answer quoted from them",
    responses=error_responses(422),
)
def ask_library(body: AskIn, session: SessionDep, state: StateDep) -> AnswerOut:
    return _ask(session, state, body.question, body.video_ids)


@router.post(
    "/videos/{video_id}/ask",
    response_model=AnswerOut,
    summary="Ask one video: its best moments and an answer quoted from them",
    responses=error_responses(404, 422),
)
def ask_video(video_id: str, body: AskIn, session: SessionDep, state: StateDep) -> AnswerOut:
    VideoService(session).get(video_id)  # 404 for a video that does not exist
    return _ask(session, state, body.question, [video_id])
