"""Ask: the extractive answer quotes the sentence that answers, at the second it is said; an
LLM's answer is kept only when every sentence cites a retrieved moment that supports it."""

from __future__ import annotations

from tests.support.retrieval import answers, load_questions
from tests.support.search import encoder, indexed_video
from tests.support.talks import build, load_topics
from vidigest.database.session import Database
from vidigest.modules.search.ask import ask, check_citations, clock
from vidigest.modules.search.service import PassageHit
from vidigest.modules.summary.chat import ChatAnswer, LLMFailure


def _hit(start: float, end: float, text: str, name: str = "talk.mp4") -> PassageHit:
    return PassageHit(
        passage_id=1,
        video_id="v-1",
        filename=name,
        first_segment=0,
        last_segment=3,
        start=start,
        end=end,
        text=text,
        language="en",
        score=1.0,
    )


def test_every_sample_question_gets_a_correct_citation(sqlite_db: Database) -> None:
    built = build(load_topics())
    indexed_video(sqlite_db, built.transcript)
    missed = []
    with sqlite_db.session() as session:
        for question in load_questions("sample"):
            (sentence,) = [s for s in built.sentence_times if answers(question.anchor, s)]
            start, end = built.sentence_times[sentence]
            answer = ask(session, question.query, encoder=encoder())
            assert answer.method == "extractive" and answer.fallback_reason is None
            # a citation is a quote's first second: it must fall in the answering sentence
            if not any(start - 1.0 <= c.at <= end for c in answer.citations):
                missed.append(
                    (
                        question.query,
                        [
                            (c.at, q.text)
                            for c, q in zip(answer.citations, answer.quotes, strict=True)
                        ],
                    )
                )
    assert missed == []


def test_citations_are_checked_against_the_moments() -> None:
    hits = [_hit(60.0, 85.0, "The magma collects in a chamber under the crust.")]
    ok, problem = check_citations("Magma collects under the crust [talk.mp4, 01:10].", hits)
    assert problem is None and [c.at for c in ok] == [70.0]
    for text, reason in (
        ("Magma collects under the crust.", "uncited sentence"),
        ("Magma collects under the crust [talk.mp4, 03:10].", "no retrieved passage"),
        ("Magma collects under the crust [other.mp4, 01:10].", "no retrieved passage"),
        ("Penguins dive for krill [talk.mp4, 01:10].", "not founded"),
        ("Magma collects [talk.mp4, 01:10]. It erupts later.", "uncited sentence"),
        ("", "empty"),
    ):
        found, problem = check_citations(text, hits)
        assert found == [] and problem is not None and reason in problem, (text, problem)
    assert clock(70.9) == "01:10" and clock(3725) == "62:05"


class _Chat:
    """A chat backend answering with fixed text, or failing: the seam `ask` calls (the real
    server is exercised in tests/integration/test_ask_llm.py)."""

    kind = "llm"
    details: dict[str, object] = {}

    def __init__(self, content: str | None) -> None:
        self.content = content
        self.prompts: list[str] = []

    def complete(self, system: str, user: str, schema: object, stage: str) -> ChatAnswer:
        self.prompts.append(user)
        if self.content is None:
            raise LLMFailure("endpoint unreachable after 2 retries", stage)
        return ChatAnswer(content=self.content, cut=False)


def test_a_written_answer_is_kept_only_when_its_citations_check(sqlite_db: Database) -> None:
    built = build(load_topics())
    indexed_video(sqlite_db, built.transcript)
    sentence = next(s for s in built.sentence_times if "Dunlop" in s)
    at = clock(built.sentence_times[sentence][0])
    question = "Who made the air filled tyre practical?"
    good = _Chat(
        f'{{"answer": "John Boyd Dunlop made the rubber tyre practical [talk.mp4, {at}]."}}'
    )
    with sqlite_db.session() as session:
        written = ask(session, question, encoder=encoder(), chat=good)
        uncited = ask(session, question, encoder=encoder(), chat=_Chat('{"answer": "Dunlop."}'))
        broken = ask(session, question, encoder=encoder(), chat=_Chat("Dunlop did [talk"))
        away = ask(session, question, encoder=encoder(), chat=_Chat(None))
    assert written.method == "llm" and written.fallback_reason is None
    assert "Dunlop" in good.prompts[0] and "[talk.mp4, " in good.prompts[0]
    assert [clock(c.at) for c in written.citations] == [at]
    assert uncited.method == "extractive" and "uncited" in (uncited.fallback_reason or "")
    assert broken.method == "extractive" and "JSON" in (broken.fallback_reason or "")
    assert away.method == "extractive" and "unreachable" in (away.fallback_reason or "")
    assert "Dunlop" in away.text  # the quoted answer stands in
