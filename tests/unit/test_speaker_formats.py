"""Speakers in the transcript exports; without speakers the exports are the plain ones."""

from __future__ import annotations

import json

from vidigest.common.types import (
    Chapter,
    KeyPoint,
    Segment,
    Speaker,
    SpeakerTurn,
    Summary,
    Transcript,
    Word,
)
from vidigest.modules.speakers.assign import assign_speakers, talk_time
from vidigest.modules.speakers.attribution import attribute_speakers, name_summary
from vidigest.modules.summary import formats as summary_formats
from vidigest.modules.transcription.formats import render, to_json, to_srt, to_txt, to_vtt


def _words(start: float, *texts: str) -> tuple[Word, ...]:
    return tuple(
        Word(start=start + i * 0.5, end=start + i * 0.5 + 0.4, text=f" {t}", probability=0.9)
        for i, t in enumerate(texts)
    )


PLAIN = (
    Segment(
        index=0, start=0.0, end=2.0, text=" Hello there.", words=_words(0.0, "Hello", "there.")
    ),
    Segment(
        index=1, start=2.0, end=4.0, text=" How are you?", words=_words(2.0, "How", "are", "you?")
    ),
    Segment(
        index=2, start=4.0, end=6.0, text=" Fine, thanks.", words=_words(4.0, "Fine,", "thanks.")
    ),
)
TURNS = (
    SpeakerTurn(start=0.0, end=4.1, speaker="SPEAKER_1"),
    SpeakerTurn(start=4.1, end=6.0, speaker="SPEAKER_2"),
)


def diarized(names: dict[str, str] | None = None) -> Transcript:
    names = names or {}
    return Transcript(
        language="en",
        duration=6.0,
        model="test",
        segments=assign_speakers(PLAIN, TURNS),
        speakers=tuple(
            Speaker(label=label, name=names.get(label), talk_time=seconds)
            for label, seconds in talk_time(TURNS).items()
        ),
        turns=TURNS,
    )


def test_srt_names_the_speaker_of_every_cue() -> None:
    srt = to_srt(diarized({"SPEAKER_2": "Grace"}))
    lines = [line for line in srt.split("\n") if line and "-->" not in line and not line.isdigit()]
    assert lines == ["Speaker 1: Hello there.", "Speaker 1: How are you?", "Grace: Fine, thanks."]


def test_vtt_uses_voice_tags_with_escaped_names() -> None:
    vtt = to_vtt(diarized({"SPEAKER_1": "Ada <Lovelace> & co"}))
    assert "\n<v Ada &lt;Lovelace&gt; &amp; co>Hello there.\n" in vtt
    assert "\n<v Speaker 2>Fine, thanks.\n" in vtt


def test_txt_names_the_speaker_where_it_changes() -> None:
    assert to_txt(diarized()) == (
        "Speaker 1: Hello there.\nHow are you?\nSpeaker 2: Fine, thanks.\n"
    )


def test_json_has_speakers_turns_and_a_speaker_on_segments_and_words() -> None:
    data = json.loads(render(diarized({"SPEAKER_1": "Ada"}), "json"))
    assert data["speakers"] == [
        {"label": "SPEAKER_1", "name": "Ada", "display_name": "Ada", "talk_time": 4.1},
        {"label": "SPEAKER_2", "name": None, "display_name": "Speaker 2", "talk_time": 1.9},
    ]
    assert data["turns"] == [
        {"start": 0.0, "end": 4.1, "speaker": "SPEAKER_1"},
        {"start": 4.1, "end": 6.0, "speaker": "SPEAKER_2"},
    ]
    assert [(s["speaker"], s["speaker_name"]) for s in data["segments"]] == [
        ("SPEAKER_1", "Ada"),
        ("SPEAKER_1", "Ada"),
        ("SPEAKER_2", "Speaker 2"),
    ]
    assert {w["speaker"] for w in data["segments"][2]["words"]} == {"SPEAKER_2"}


def test_without_speakers_nothing_is_added() -> None:
    plain = Transcript(language="en", duration=6.0, model="test", segments=PLAIN)
    assert "speakers" not in to_json(plain) and "turns" not in to_json(plain)
    assert all("speaker" not in s for s in to_json(plain)["segments"])
    assert to_txt(plain) == "Hello there.\nHow are you?\nFine, thanks.\n"
    assert ": " not in to_srt(plain) and "<v " not in to_vtt(plain)


def _summary() -> Summary:
    return Summary(
        abstract="A greeting.",
        key_points=(
            KeyPoint(text="Hello there.", start=0.0, end=2.0),
            KeyPoint(text="Fine, thanks.", start=4.0, end=6.0),
        ),
        chapters=(Chapter(start=0.0, end=6.0, title="Greetings", summary="They greet."),),
        keywords=("greeting",),
        method="extractive",
    )


def test_key_points_and_chapters_name_who_talks_by_current_names() -> None:
    labelled = attribute_speakers(_summary(), diarized().segments)
    assert [k.speaker for k in labelled.key_points] == ["SPEAKER_1", "SPEAKER_2"]
    assert labelled.chapters[0].speakers == ("SPEAKER_1", "SPEAKER_2")  # 4 s, then 2 s
    named = name_summary(labelled, {"SPEAKER_2": "Grace"})
    assert [k.speaker for k in named.key_points] == ["Speaker 1", "Grace"]
    markdown = summary_formats.to_markdown(named, "talk")
    assert "- [00:04] Grace: Fine, thanks." in markdown
    assert "_Speakers: Speaker 1, Grace_" in markdown
    data = summary_formats.to_json(named)
    assert data["key_points"][1]["speaker"] == "Grace"
    assert data["chapters"][0]["speakers"] == ["Speaker 1", "Grace"]


def test_a_summary_without_speakers_is_exported_as_before() -> None:
    plain = _summary()
    assert attribute_speakers(plain, PLAIN) == plain
    data = summary_formats.to_json(plain)
    assert all("speaker" not in k for k in data["key_points"])
    assert all("speakers" not in c for c in data["chapters"])
    assert "_Speakers" not in summary_formats.to_markdown(plain, "talk")
    assert "- [00:00] Hello there." in summary_formats.to_markdown(plain, "talk")


def alone(name: str | None = None) -> Transcript:
    """One voice throughout (a lecture, a narration)."""
    turn = (SpeakerTurn(start=0.0, end=6.0, speaker="SPEAKER_1"),)
    return Transcript(
        language="en",
        duration=6.0,
        model="test",
        segments=assign_speakers(PLAIN, turn),
        speakers=(Speaker(label="SPEAKER_1", name=name, talk_time=6.0),),
        turns=turn,
    )


def test_a_lone_unnamed_voice_is_not_named_on_every_line() -> None:
    plain = Transcript(language="en", duration=6.0, model="test", segments=PLAIN)
    one = alone()
    for fmt in ("srt", "vtt", "txt"):
        assert render(one, fmt) == render(plain, fmt), fmt  # type: ignore[arg-type]
    # the data still says who spoke
    assert {s["speaker"] for s in to_json(one)["segments"]} == {"SPEAKER_1"}
    summary = Summary(
        abstract="Hello there.",
        key_points=(KeyPoint(text="How are you?", start=2.0, end=4.0),),
        chapters=(Chapter(start=0.0, end=6.0, title="Greetings", summary="Hello there."),),
        keywords=("hello",),
        method="extractive",
    )
    shown = name_summary(attribute_speakers(summary, one.segments), {})
    assert shown.key_points[0].speaker == "Speaker 1"
    markdown = summary_formats.to_markdown(shown, "t")
    assert "Speaker 1" not in markdown
    assert summary_formats.to_json(shown)["key_points"][0]["speaker"] == "Speaker 1"


def test_a_lone_voice_with_a_name_is_named() -> None:
    named = alone("Ada Lovelace")
    assert to_txt(named).startswith("Ada Lovelace: Hello there.\n")
    assert "<v Ada Lovelace>Hello there." in to_vtt(named)
    assert "Ada Lovelace: How are you?" in to_srt(named)
