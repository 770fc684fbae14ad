"""Speakers onto transcripts: word by overlap, segment splits, talk time, display names."""

from __future__ import annotations

import pytest

from vidigest.common.types import Segment, Speaker, SpeakerTurn, Transcript, Word
from vidigest.modules.speakers.assign import assign_speakers, talk_time
from vidigest.modules.speakers.naming import (
    check_name,
    default_name,
    display_names,
    speakers_between,
    transcript_names,
)


def w(start: float, end: float, text: str) -> Word:
    return Word(start=start, end=end, text=text, probability=0.9)


def turn(start: float, end: float, n: int) -> SpeakerTurn:
    return SpeakerTurn(start=start, end=end, speaker=f"SPEAKER_{n}")


def test_a_word_takes_the_turn_it_overlaps_most() -> None:
    segment = Segment(
        index=0, start=0.0, end=2.0, text=" a b", words=(w(0.0, 0.9, " a"), w(0.9, 2.0, " b"))
    )
    # " b" overlaps SPEAKER_1 by 0.1 s and SPEAKER_2 by 1.0 s
    out = assign_speakers([segment], [turn(0.0, 1.0, 1), turn(1.0, 2.5, 2)])
    assert [s.speaker for s in out] == ["SPEAKER_1", "SPEAKER_2"]
    assert [w.speaker for s in out for w in s.words] == ["SPEAKER_1", "SPEAKER_2"]


def test_a_word_in_no_turn_takes_the_nearest() -> None:
    words = (w(0.0, 0.5, " one"), w(3.0, 3.5, " two"), w(9.0, 9.5, " three"))
    segment = Segment(index=0, start=0.0, end=9.5, text=" one two three", words=words)
    turns = [turn(0.0, 1.0, 1), turn(4.0, 5.0, 2)]
    out = assign_speakers([segment], turns)
    # " two" (3.0-3.5) is 2.0 s after SPEAKER_1 and 0.5 s before SPEAKER_2; " three" is past both
    assert [x.speaker for s in out for x in s.words] == ["SPEAKER_1", "SPEAKER_2", "SPEAKER_2"]


def test_a_segment_splits_where_the_speaker_changes_and_is_reindexed() -> None:
    first = Segment(
        index=0,
        start=0.0,
        end=4.0,
        text=" Hello there. Hi!",
        words=(w(0.1, 0.6, " Hello"), w(0.6, 1.2, " there."), w(2.5, 3.0, " Hi!")),
    )
    second = Segment(index=1, start=4.0, end=6.0, text=" Bye.", words=(w(4.2, 4.8, " Bye."),))
    out = assign_speakers([first, second], [turn(0.0, 2.0, 1), turn(2.2, 5.0, 2)])
    assert [(s.index, s.speaker, s.text) for s in out] == [
        (0, "SPEAKER_1", " Hello there."),
        (1, "SPEAKER_2", " Hi!"),
        (2, "SPEAKER_2", " Bye."),
    ]
    # the first part starts where the segment did, the last ends where it did
    assert (out[0].start, out[0].end) == (0.0, 1.2)
    assert (out[1].start, out[1].end) == (2.5, 4.0)
    assert out[2].text == second.text  # an unsplit segment keeps its own text
    assert sum(len(s.words) for s in out) == 4


def test_a_segment_without_words_takes_the_speaker_covering_most_of_it() -> None:
    segment = Segment(index=5, start=0.0, end=10.0, text=" music and talk")
    turns = [turn(0.0, 3.0, 1), turn(3.0, 4.0, 2), turn(6.0, 9.0, 2)]
    (out,) = assign_speakers([segment], turns)
    assert out.speaker == "SPEAKER_2"  # 4 s against 3 s
    assert out.index == 5  # numbering starts at the first segment's index


def test_without_turns_nothing_changes() -> None:
    segment = Segment(index=0, start=0.0, end=1.0, text=" x", words=(w(0.0, 1.0, " x"),))
    assert assign_speakers([segment], []) == (segment,)


def test_turns_in_any_order_and_overlapping_give_the_same_answer() -> None:
    words = tuple(w(float(i), i + 0.8, f" w{i}") for i in range(10))
    segment = Segment(
        index=0, start=0.0, end=10.0, text="".join(x.text for x in words), words=words
    )
    turns = [turn(0.0, 4.1, 1), turn(4.1, 7.0, 2), turn(6.5, 10.0, 1)]
    ordered = assign_speakers([segment], turns)
    shuffled = assign_speakers([segment], [turns[2], turns[0], turns[1]])
    assert ordered == shuffled
    labels = [x.speaker for s in ordered for x in s.words]
    # w6 (6.0-6.8) lies 0.8 s in SPEAKER_2's turn and 0.3 s in the overlapping SPEAKER_1 one
    assert labels == ["SPEAKER_1"] * 4 + ["SPEAKER_2"] * 3 + ["SPEAKER_1"] * 3
    assert len(ordered) == 3


def test_talk_time_sums_each_speakers_turns_in_order_of_appearance() -> None:
    turns = [turn(5.0, 6.5, 1), turn(0.0, 2.0, 2), turn(2.0, 2.5, 1)]
    assert talk_time(turns) == {"SPEAKER_2": 2.0, "SPEAKER_1": 2.0}
    assert list(talk_time(turns)) == ["SPEAKER_2", "SPEAKER_1"]
    assert talk_time([]) == {}


def test_display_names_and_who_talks_in_a_stretch() -> None:
    assert default_name("SPEAKER_12") == "Speaker 12"
    assert default_name("narrator") == "narrator"
    speakers = (Speaker(label="SPEAKER_1", name="Ada"), Speaker(label="SPEAKER_2"))
    names = display_names(speakers)
    assert names == {"SPEAKER_1": "Ada", "SPEAKER_2": "Speaker 2"}
    segments = (
        Segment(index=0, start=0.0, end=2.0, text="a", speaker="SPEAKER_1"),
        Segment(index=1, start=2.0, end=7.0, text="b", speaker="SPEAKER_2"),
        Segment(index=2, start=7.0, end=8.0, text="c", speaker="SPEAKER_1"),
    )
    assert speakers_between(segments, 0.0, 8.0, names) == ("Speaker 2", "Ada")
    assert speakers_between(segments, 0.0, 1.0, names) == ("Ada",)
    transcript = Transcript(
        language="en", duration=8.0, model="m", segments=segments, speakers=speakers[:1]
    )
    assert transcript_names(transcript) == names


@pytest.mark.parametrize("bad", ["", "   ", "x" * 65, "a\nb", "tab\there", "nul\x00", "\x7f"])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        check_name(bad)


def test_names_are_trimmed() -> None:
    assert check_name("  Grace Hopper ") == "Grace Hopper"
    assert check_name("x" * 64) == "x" * 64
