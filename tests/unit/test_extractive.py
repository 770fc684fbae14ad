"""The extractive summarizer on real multi-topic text: the three-topic talk script in samples/.

Transcripts are built from the script the way Whisper delivers them: segments of a fixed number of
words that cut across sentences, with or without word timestamps. Times are synthetic (~2.5
words/s, or spread over the true chapter times of the narrated video), so the true topic changes
are known exactly.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest

from tests.support.talks import Built, build, load_topics, true_chapter_spans
from vidigest.common.exceptions import EmptyTranscriptError
from vidigest.common.types import Segment, Summary, Transcript, Word
from vidigest.modules.summary.extractive import (
    METHOD,
    ExtractiveConfig,
    ExtractiveSummarizer,
)
from vidigest.modules.summary.text import is_content_sentence, split_sentences, words_of

TOPIC_WORDS = [
    {"bee", "bees", "honey", "nectar", "hive", "beekeeper", "comb", "beeswax", "colony", "worker"},
    {"volcano", "volcanoes", "magma", "lava", "eruption", "eruptions", "volcanic", "rock", "gas"},
    {"bicycle", "bicycles", "wheel", "pedals", "tyre", "saddle", "penny", "farthing", "riding"},
]


@pytest.fixture(scope="module")
def summarizer() -> ExtractiveSummarizer:
    return ExtractiveSummarizer()


@pytest.fixture(scope="module")
def talk() -> Built:
    return build(load_topics(), spans=true_chapter_spans())


@pytest.fixture(scope="module")
def talk_summary(summarizer: ExtractiveSummarizer, talk: Built) -> Summary:
    return summarizer.summarize(talk.transcript)


def norm(text: str) -> str:
    return " ".join(text.split())


def assert_contiguous(summary: Summary, duration: float) -> None:
    chapters = summary.chapters
    assert chapters[0].start == 0.0
    assert chapters[-1].end == pytest.approx(duration, abs=1e-3)
    for a, b in itertools.pairwise(chapters):
        assert a.end == b.start
        assert a.start < a.end


# --- chapters ---------------------------------------------------------------------------------


def test_chapters_at_the_true_topic_changes(talk: Built, talk_summary: Summary) -> None:
    chapters = talk_summary.chapters
    assert len(chapters) == 3
    assert_contiguous(talk_summary, talk.transcript.duration)
    for chapter, true_start in zip(chapters[1:], talk.topic_starts[1:], strict=True):
        assert abs(chapter.start - true_start) <= 15.0
    for chapter in chapters:
        assert chapter.end - chapter.start >= 30.0


@pytest.mark.parametrize("order", [(2, 0, 1), (1, 2, 0)])
@pytest.mark.parametrize("with_words", [True, False])
def test_chapters_in_other_orders_and_without_word_times(
    summarizer: ExtractiveSummarizer, order: tuple[int, ...], with_words: bool
) -> None:
    topics = load_topics()
    built = build([topics[i] for i in order], with_words=with_words, seg_words=17)
    summary = summarizer.summarize(built.transcript)
    assert len(summary.chapters) == 3
    assert_contiguous(summary, built.transcript.duration)
    for chapter, true_start in zip(summary.chapters[1:], built.topic_starts[1:], strict=True):
        assert abs(chapter.start - true_start) <= 15.0
    for chapter, i in zip(summary.chapters, order, strict=True):
        title_words = set(words_of(chapter.title))
        assert title_words & TOPIC_WORDS[i], (chapter.title, i)


def test_chapter_titles_and_summaries(talk: Built, talk_summary: Summary) -> None:
    topics = load_topics()
    for chapter, (_title, sentences), vocabulary in zip(
        talk_summary.chapters, topics, TOPIC_WORDS, strict=True
    ):
        assert 1 <= len(chapter.title.split()) <= 5
        assert chapter.title == chapter.title.title() or chapter.title[0].isupper()
        assert set(words_of(chapter.title)) & vocabulary, chapter.title
        # the summary is one of the chapter's own sentences, quoted
        assert chapter.summary in sentences
        start, end = talk.sentence_times[chapter.summary]
        assert chapter.start <= start and end <= chapter.end


def test_short_transcript_is_one_chapter(summarizer: ExtractiveSummarizer) -> None:
    topics = load_topics()
    built = build([("bees", topics[0][1][:3])])
    summary = summarizer.summarize(built.transcript)
    assert len(summary.chapters) == 1
    assert summary.chapters[0].start == 0.0
    assert summary.chapters[0].end == pytest.approx(built.transcript.duration)
    assert summary.abstract
    assert 1 <= len(summary.key_points) <= 3
    assert summary.keywords


def test_one_sentence_transcript(summarizer: ExtractiveSummarizer) -> None:
    seg = Segment(index=0, start=0.0, end=2.0, text=" Hello there.")
    summary = summarizer.summarize(
        Transcript(language="en", duration=2.4, model="test", segments=(seg,))
    )
    assert summary.abstract == "Hello there."
    assert [(c.start, c.end) for c in summary.chapters] == [(0.0, 2.4)]
    assert [k.text for k in summary.key_points] == ["Hello there."]


# --- abstract, key points, keywords -------------------------------------------------------------


def test_key_points_are_verbatim_sentences_in_order_with_times(
    talk: Built, talk_summary: Summary
) -> None:
    points = talk_summary.key_points
    assert 3 <= len(points) <= 7
    assert [p.start for p in points] == sorted(p.start for p in points)
    for p in points:
        assert p.text in talk.sentence_times, p.text
        start, end = talk.sentence_times[p.text]
        assert p.start == pytest.approx(start, abs=1e-3)
        assert p.end == pytest.approx(end, abs=1e-3)
    # spread over chapters: every chapter has one
    for chapter in talk_summary.chapters:
        assert any(chapter.start <= p.start < chapter.end for p in points)
    assert len({p.text for p in points}) == len(points)


def test_key_point_times_without_word_timestamps(summarizer: ExtractiveSummarizer) -> None:
    built = build(load_topics(), with_words=False, seg_words=9)
    summary = summarizer.summarize(built.transcript)
    for p in summary.key_points:
        start, end = built.sentence_times[p.text]
        # segment times shared out by characters: close, not exact
        assert abs(p.start - start) < 1.0 and abs(p.end - end) < 1.0


def test_abstract_is_central_quoted_sentences_in_order(talk: Built, talk_summary: Summary) -> None:
    order = list(talk.sentence_times)
    chosen = [s for s in order if s in talk_summary.abstract]
    assert 2 <= len(chosen) <= 4
    assert talk_summary.abstract == " ".join(chosen)
    # non-redundant: a talk on three topics gets one abstract sentence per topic
    topics = load_topics()
    covered = {i for i, (_t, sents) in enumerate(topics) for s in chosen if s in sents}
    assert covered == {0, 1, 2}


def test_key_points_do_not_repeat_the_abstract(
    summarizer: ExtractiveSummarizer, talk: Built, talk_summary: Summary
) -> None:
    abstract = {s for s in talk.sentence_times if s in talk_summary.abstract}
    points = [p.text for p in talk_summary.key_points]
    assert abstract and not abstract & set(points), (abstract, points)
    # the switch that turns it off shows what it prevents: the same central sentences twice
    old_style = ExtractiveSummarizer(
        summarizer.encoder, ExtractiveConfig(key_points_avoid_abstract=False)
    ).summarize(talk.transcript)
    assert old_style.abstract == talk_summary.abstract
    assert abstract & {p.text for p in old_style.key_points}


def test_run_exposes_the_structure_behind_the_summary(
    summarizer: ExtractiveSummarizer, talk: Built
) -> None:
    three = ExtractiveSummarizer(summarizer.encoder, ExtractiveConfig(abstract_sentences=3))
    res = three.run(talk.transcript)
    assert len(res.abstract_idx) == 3
    assert res.summary.abstract == " ".join(res.sentences[i].text for i in res.abstract_idx)
    assert [res.sentences[i].text for i in res.key_point_idx] == [
        p.text for p in res.summary.key_points
    ]
    assert res.bounds[0] == 0 and res.bounds[-1] == len(res.sentences)
    starts = [c.start for c in res.summary.chapters]
    assert starts[1:] == [round(res.sentences[b].start, 3) for b in res.bounds[1:-1]]


def test_keywords(talk: Built, talk_summary: Summary) -> None:
    keywords = talk_summary.keywords
    assert 5 <= len(keywords) <= 10
    text_words = " " + " ".join(words_of(talk.transcript.text)) + " "
    lowered = [k.lower() for k in keywords]
    for k in lowered:
        assert f" {k} " in text_words, k  # a run of the transcript's words
    for i, a in enumerate(lowered):
        for j, b in enumerate(lowered):
            assert i == j or a not in b, (a, b)
    for vocabulary in TOPIC_WORDS:
        assert any(set(k.split()) & vocabulary for k in lowered), (vocabulary, keywords)


def test_nothing_is_invented(talk: Built, talk_summary: Summary) -> None:
    text = norm(talk.transcript.text)
    for piece in [
        *re.split(r"(?<=[.!?])\s+", talk_summary.abstract),
        *(p.text for p in talk_summary.key_points),
        *(c.summary for c in talk_summary.chapters),
    ]:
        assert piece and norm(piece) in text
    text_words = set(words_of(text))
    for c in talk_summary.chapters:
        assert set(words_of(c.title)) <= text_words
    assert talk_summary.method == METHOD == "extractive-minilm"
    meta = talk_summary.metadata
    assert meta["sentences"] == 24 and meta["chapters"] == 3
    json.dumps(meta)  # stored as JSON


def test_deterministic(
    summarizer: ExtractiveSummarizer, talk: Built, talk_summary: Summary
) -> None:
    again = summarizer.summarize(talk.transcript)
    assert again.model_dump(exclude={"metadata"}) == talk_summary.model_dump(exclude={"metadata"})


def test_boilerplate_is_never_chosen(summarizer: ExtractiveSummarizer) -> None:
    topics = load_topics()
    sentences = ["Um, okay.", "Hi everyone.", *topics[0][1], "Thanks for watching!", "Bye."]
    built = build([("bees", sentences)])
    summary = summarizer.summarize(built.transcript)
    chosen = [summary.abstract, *(p.text for p in summary.key_points)]
    chosen += [c.summary for c in summary.chapters]
    for junk in ("Um, okay.", "Hi everyone.", "Thanks for watching!", "Bye."):
        assert all(junk not in c for c in chosen)
    assert not is_content_sentence("Thanks for watching!")
    assert not is_content_sentence("[Music]")
    assert not is_content_sentence("Yeah, so, you know, um.")
    assert is_content_sentence("Forager workers fly from flower to flower.")


# --- empty input, progress ----------------------------------------------------------------------


@pytest.mark.parametrize("texts", [[], [" "], ["  ", "\n\t"], [" ...", " - "]])
def test_empty_transcript(summarizer: ExtractiveSummarizer, texts: list[str]) -> None:
    segments = tuple(
        Segment(index=i, start=float(i), end=i + 1.0, text=t) for i, t in enumerate(texts)
    )
    transcript = Transcript(language="en", duration=3.0, model="test", segments=segments)
    with pytest.raises(EmptyTranscriptError) as info:
        summarizer.summarize(transcript)
    assert str(info.value) == "nothing was said: the transcript is empty"


class RecordingProgress:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float]] = []

    def start(self, stage: str, total: float) -> None:
        self.calls.append(("start", stage, total))

    def update(self, stage: str, completed: float) -> None:
        self.calls.append(("update", stage, completed))

    def finish(self, stage: str) -> None:
        self.calls.append(("finish", stage, 0.0))


def test_progress_is_reported(summarizer: ExtractiveSummarizer, talk: Built) -> None:
    progress = RecordingProgress()
    summarizer.summarize(talk.transcript, progress)
    kinds = [c[0] for c in progress.calls]
    assert kinds[0] == "start" and kinds[-1] == "finish"
    assert {c[1] for c in progress.calls} == {"summarize"}
    total = progress.calls[0][2]
    done = [c[2] for c in progress.calls if c[0] == "update"]
    assert done == sorted(done) and done[-1] == total


# --- sentences ----------------------------------------------------------------------------------


def test_sentences_rebuilt_across_segments_with_word_times() -> None:
    words = [
        ("Dr.", 0.0), ("Smith", 0.4), ("arrived", 0.8), ("at", 1.2), ("3.5", 1.4),
        ("p.m.", 1.8), ("today", 2.2), ("and", 2.6),
        ("sat", 3.0), ("down.", 3.3), ("Then", 4.0), ("he", 4.3), ("left!", 4.6),
        ("Was", 5.5), ("it", 5.8), ("the", 6.0), ("U.S.", 6.2), ("embassy?", 6.6), ("Yes.", 7.5),
    ]  # fmt: skip
    cut = [0, 8, 13, 19]
    segments = []
    for i, (a, z) in enumerate(itertools.pairwise(cut)):
        ws = tuple(Word(start=t, end=t + 0.3, text=" " + w, probability=1.0) for w, t in words[a:z])
        segments.append(
            Segment(
                index=i,
                start=ws[0].start,
                end=ws[-1].end,
                text=" " + " ".join(w for w, _ in words[a:z]),
                words=ws,
            )
        )
    transcript = Transcript(language="en", duration=8.0, model="t", segments=tuple(segments))
    got = [(s.text, s.start, s.end) for s in split_sentences(transcript)]
    assert got == [
        ("Dr. Smith arrived at 3.5 p.m. today and sat down.", 0.0, pytest.approx(3.6)),
        ("Then he left!", 4.0, pytest.approx(4.9)),
        ("Was it the U.S. embassy?", 5.5, pytest.approx(6.9)),
        ("Yes.", 7.5, pytest.approx(7.8)),
    ]


def test_sentence_times_from_segment_span_without_words() -> None:
    seg = Segment(index=0, start=10.0, end=20.0, text=" Short one. And a second sentence here.")
    transcript = Transcript(language="en", duration=20.0, model="t", segments=(seg,))
    (a, b) = split_sentences(transcript)
    assert a.text == "Short one." and b.text == "And a second sentence here."
    assert a.start == 10.0 and b.end == pytest.approx(20.0)
    assert a.end < b.start  # split in proportion to characters
    assert b.start == pytest.approx(10.0 + 10.0 * 11 / 38, abs=1e-6)


def lowercase_segments(words: list[str], per_segment: int) -> list[Segment]:
    segments = []
    for k in range(0, len(words), per_segment):
        chunk = words[k : k + per_segment]
        segments.append(
            Segment(
                index=len(segments),
                start=k / 2.5,
                end=(k + len(chunk)) / 2.5,
                text=" " + " ".join(chunk),
            )
        )
    return segments


def test_unpunctuated_speech_segments_become_sentences(summarizer: ExtractiveSummarizer) -> None:
    topics = load_topics()
    words = [w.lower().strip(".,") for _t, sents in topics for s in sents for w in s.split()]
    segments = lowercase_segments(words, 10)
    duration = len(words) / 2.5
    transcript = Transcript(language="en", duration=duration, model="t", segments=tuple(segments))
    sentences = split_sentences(transcript)
    assert [s.text for s in sentences] == [seg.text.strip() for seg in segments]
    summary = summarizer.summarize(transcript)
    assert_contiguous(summary, duration)
    assert summary.abstract and summary.key_points and summary.keywords
    # the topics still change where they do
    true_starts = [sum(len(s.split()) for _t, ss in topics[:i] for s in ss) / 2.5 for i in (1, 2)]
    assert len(summary.chapters) == 3
    for chapter, true_start in zip(summary.chapters[1:], true_starts, strict=True):
        assert abs(chapter.start - true_start) <= 15.0


def test_long_unpunctuated_run_is_cut_at_a_segment_end() -> None:
    words = [w.lower().strip(".,") for s in load_topics()[0][1] for w in s.split()]
    # punctuated text (one stop per 50 words), with a long run without any
    for i in (9, 60):
        words[i] += "."
        words[i + 1] = words[i + 1].capitalize()
    segments = lowercase_segments(words[:100], 7)
    transcript = Transcript(language="en", duration=40.0, model="t", segments=tuple(segments))
    sentences = split_sentences(transcript)
    assert sentences[0].text == " ".join(words[:10])
    # segments end after words 14, 21, ..., 49, 56: the first with >= 45 words ends a sentence
    assert sentences[1].text == " ".join(words[10:56])
    assert sentences[2].text == " ".join(words[56:61])
    assert sentences[3].text == " ".join(words[61:100])
    assert len(sentences) == 4
    assert " ".join(s.text for s in sentences) == " ".join(words[:100])
    # the two pieces of the run-on are not whole sentences (never quoted)
    assert [s.whole for s in sentences] == [True, False, False, True]
