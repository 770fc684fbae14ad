"""Sentences that are sentences: a sentence end the ASR did not punctuate is still an end, nothing
is glued across it, and the pieces of a run-on cut at a length limit are never quoted."""

from __future__ import annotations

import pytest

from vidigest.common.types import Segment, Transcript
from vidigest.modules.summary.extractive import ExtractiveSummarizer
from vidigest.modules.summary.text import split_sentences


def transcript(*texts: str) -> Transcript:
    segments = []
    t = 0.0
    for i, text in enumerate(texts):
        dur = len(text.split()) / 2.5
        segments.append(Segment(index=i, start=t, end=t + dur, text=" " + text))
        t += dur + 0.3
    return Transcript(language="en", duration=t, model="t", segments=tuple(segments))


def texts(*segments: str) -> list[str]:
    return [s.text for s in split_sentences(transcript(*segments))]


def test_a_missed_full_stop_before_a_capitalised_sentence_start() -> None:
    # as the fast model wrote it for the three-topic demo
    got = texts(
        "the magma forces its way through cracks and bursts out The most dangerous hazard is "
        "a pyroclastic flow. It races down the slope."
    )
    assert got == [
        "the magma forces its way through cracks and bursts out",
        "The most dangerous hazard is a pyroclastic flow.",
        "It races down the slope.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "The song was written by The Beatles in a single night.",  # cannot end on "by"
        "After the storm I went home and slept until noon.",  # "I" is always capitalised
        "They sailed with Leif Erikson to the west.",  # names are not sentence starters
        "It was the best of times, it was the worst of times.",  # lower-case after a comma
    ],
)
def test_capitals_that_do_not_start_a_sentence(text: str) -> None:
    assert texts(text) == [text]


def test_a_comma_where_a_full_stop_was_meant() -> None:
    assert texts("and some hope to land on Mars, The moon does not shine with its own light.") == [
        "and some hope to land on Mars,",
        "The moon does not shine with its own light.",
    ]


def test_run_on_pieces_are_not_whole() -> None:
    run_on = "And " + " ".join(["the river kept on flowing past the old mill"] * 11)  # 100 words
    sentences = split_sentences(transcript("Rivers shape the land.", run_on, "It never stops."))
    assert sentences[0].text == "Rivers shape the land."
    assert [s.whole for s in sentences] == [True, False, False, True]
    assert sentences[1].text.startswith("And the river") and not sentences[1].text.endswith(".")
    assert sentences[3].text == "It never stops."  # a missed end: "...the old mill It never"


def test_quoted_sentences_are_whole(summarizer: ExtractiveSummarizer) -> None:
    """Abstract, key points and chapter summaries quote whole sentences only, even when a long
    run-on (cut at the length limits) is the most central text of the talk."""
    run_on = " ".join(
        ["the glacier carves the valley and the ice grinds the rock beneath the glacier"] * 8
    )
    whole = [
        "A glacier is a river of ice that forms where snow piles up year after year.",
        "The weight of the snow squeezes the lower layers into dense blue ice.",
        "Rocks frozen into the ice scrape the bedrock and leave long scratches.",
        "When the glacier melts, a deep lake often fills the valley it carved.",
        "Moraines are ridges of rock debris that the ice leaves behind.",
    ]
    t = transcript(*whole[:2], run_on, *whole[2:])
    pieces = [s.text for s in split_sentences(t) if not s.whole]
    assert pieces, "the run-on was cut"
    summary = summarizer.summarize(t)
    quoted = [summary.abstract, *(k.text for k in summary.key_points)]
    quoted += [c.summary for c in summary.chapters]
    for piece in pieces:
        for q in quoted:
            assert piece not in q, (piece, q)
    assert all(q.rstrip()[-1] in ".!?" for q in quoted), quoted


@pytest.fixture(scope="module")
def summarizer() -> ExtractiveSummarizer:
    return ExtractiveSummarizer()


@pytest.mark.parametrize(
    "text",
    [
        "Most people lack vitamin A in winter.",
        "The car raced in Formula One for a decade.",
        "We watched Doctor Who on Saturday.",
    ],
)
def test_capitalised_words_that_are_not_sentence_starters_here(text: str) -> None:
    assert texts(text) == [text]
