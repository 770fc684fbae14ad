"""Transcript exports, parsed back with small strict parsers written here."""

from __future__ import annotations

import html
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidigest.common.types import Segment, Transcript, Word
from vidigest.modules.transcription.formats import (
    FORMATS,
    render,
    srt_timestamp,
    to_json,
    to_srt,
    to_txt,
    to_vtt,
    vtt_timestamp,
)

SRT_TIME = r"(\d{2,}):([0-5]\d):([0-5]\d),(\d{3})"
VTT_TIME = r"(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})"


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_srt(text: str) -> list[tuple[int, float, float, str]]:
    """Strict SubRip: numbered blocks separated by one blank line, one text line each here."""
    if text == "":
        return []
    assert text.endswith("\n") and not text.endswith("\n\n")
    cues = []
    for block in text.rstrip("\n").split("\n\n"):
        lines = block.split("\n")
        assert len(lines) == 3, block
        timing = re.fullmatch(f"{SRT_TIME} --> {SRT_TIME}", lines[1])
        assert timing, lines[1]
        g = timing.groups()
        cues.append((int(lines[0]), _seconds(*g[:4]), _seconds(*g[4:]), lines[2]))
    return cues


def parse_vtt(text: str) -> list[tuple[str, float, float, str]]:
    """Strict WebVTT: the WEBVTT header, a blank line, then cues (identifier, timing, text)."""
    assert text.startswith("WEBVTT\n")
    body = text.removeprefix("WEBVTT\n")
    if not body:
        return []
    assert body.startswith("\n") and text.endswith("\n") and not text.endswith("\n\n")
    cues = []
    for block in body[1:].rstrip("\n").split("\n\n"):
        lines = block.split("\n")
        assert len(lines) == 3, block
        assert "-->" not in lines[0]
        timing = re.fullmatch(f"{VTT_TIME} --> {VTT_TIME}", lines[1])
        assert timing, lines[1]
        assert "<" not in lines[2] and ">" not in lines[2]
        g = timing.groups()
        cues.append((lines[0], _seconds(*g[:4]), _seconds(*g[4:]), html.unescape(lines[2])))
    return cues


def _transcript(segments: list[tuple[float, float, str]]) -> Transcript:
    return Transcript(
        language="en",
        language_probability=0.98,
        duration=max([e for _, e, _ in segments], default=0.0) + 1.0,
        model="whisper-tiny.en",
        segments=tuple(
            Segment(
                index=i,
                start=start,
                end=end,
                text=text,
                words=tuple(
                    Word(start=start, end=end, text=w, probability=0.9) for w in text.split()[:2]
                ),
            )
            for i, (start, end, text) in enumerate(segments)
        ),
    )


SAMPLE = _transcript(
    [
        (0.0, 1.2344, " Hello there."),
        (1.9995, 3661.5, "Bees <make> honey & wax."),
        (3661.5, 3662.0, "A line\nbreak --> arrow ---> and ---->"),
    ]
)


def test_timestamps() -> None:
    assert srt_timestamp(1.234) == "00:00:01,234"
    assert vtt_timestamp(1.234) == "00:00:01.234"
    assert srt_timestamp(0) == "00:00:00,000"
    assert srt_timestamp(1.9995) == "00:00:02,000"  # rounds, carrying into the seconds
    assert vtt_timestamp(3599.9999) == "01:00:00.000"
    assert vtt_timestamp(3661.5) == "01:01:01.500"
    assert srt_timestamp(100 * 3600 + 0.007) == "100:00:00,007"
    assert srt_timestamp(-0.2) == "00:00:00,000"


def test_srt_parses_back() -> None:
    cues = parse_srt(to_srt(SAMPLE))
    assert [c[0] for c in cues] == [1, 2, 3]
    assert cues[0][1:] == (0.0, 1.234, "Hello there.")
    assert cues[1][1:] == (2.0, 3661.5, "Bees <make> honey & wax.")
    # one line per cue: the line break is folded, "-->" cannot be read as a timing line
    assert cues[2][3] == "A line break -> arrow -> and ->"


def test_vtt_parses_back() -> None:
    text = to_vtt(SAMPLE)
    assert text.startswith("WEBVTT\n\n")
    cues = parse_vtt(text)
    assert [(c[1], c[2], c[3]) for c in cues] == [
        (0.0, 1.234, "Hello there."),
        (2.0, 3661.5, "Bees <make> honey & wax."),
        (3661.5, 3662.0, "A line break -> arrow -> and ->"),
    ]
    assert "Bees &lt;make&gt; honey &amp; wax." in text


def test_txt_one_segment_per_line() -> None:
    assert (
        to_txt(SAMPLE)
        == "Hello there.\nBees <make> honey & wax.\nA line break --> arrow ---> and ---->\n"
    )


def test_json_round_trip() -> None:
    data = json.loads(render(SAMPLE, "json"))
    assert data == to_json(SAMPLE)
    assert {k: data[k] for k in ("language", "language_probability", "duration", "model")} == {
        "language": "en",
        "language_probability": 0.98,
        "duration": 3663.0,
        "model": "whisper-tiny.en",
    }
    assert data["text"] == SAMPLE.text
    first = data["segments"][0]
    assert first == {
        "index": 0,
        "start": 0.0,
        "end": 1.234,
        "text": " Hello there.",
        "words": [
            {"start": 0.0, "end": 1.234, "text": "Hello", "probability": 0.9},
            {"start": 0.0, "end": 1.234, "text": "there.", "probability": 0.9},
        ],
    }
    # enough to rebuild the transcript
    rebuilt = Transcript(
        language=data["language"],
        language_probability=data["language_probability"],
        duration=data["duration"],
        model=data["model"],
        segments=tuple(
            Segment(
                index=s["index"],
                start=s["start"],
                end=s["end"],
                text=s["text"],
                words=tuple(Word(**w) for w in s["words"]),
            )
            for s in data["segments"]
        ),
    )
    assert rebuilt.text == SAMPLE.text
    assert [s.words for s in rebuilt.segments][2] == SAMPLE.segments[2].words


def test_render_dispatches_and_rejects_unknown() -> None:
    assert FORMATS == ("json", "srt", "vtt", "txt")
    assert render(SAMPLE, "srt") == to_srt(SAMPLE)
    assert render(SAMPLE, "vtt") == to_vtt(SAMPLE)
    assert render(SAMPLE, "txt") == to_txt(SAMPLE)
    with pytest.raises(ValueError, match="unknown transcript format 'doc'"):
        render(SAMPLE, "doc")  # type: ignore[arg-type]


def test_empty_transcript() -> None:
    empty = _transcript([])
    assert to_srt(empty) == ""
    assert to_vtt(empty) == "WEBVTT\n"
    assert to_txt(empty) == ""
    assert parse_vtt(to_vtt(empty)) == []
    assert to_json(empty)["segments"] == []


_text = st.text(
    alphabet=st.one_of(
        st.sampled_from("->< &\n\t"),
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    ),
    min_size=1,
).filter(lambda s: s.split() != [])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=50_000, allow_nan=False),
            st.floats(min_value=0, max_value=30, allow_nan=False),
            _text,
        ),
        max_size=8,
    )
)
def test_srt_and_vtt_round_trip_any_text(items: list[tuple[float, float, str]]) -> None:
    segments = []
    at = 0.0
    for gap, length, text in items:
        at += gap / 100
        segments.append((at, at + length, text))
        at += length
    t = _transcript(segments)
    expected = [(round(s, 3), round(e, 3), " ".join(x.split())) for s, e, x in segments]
    for parsed in (parse_srt(to_srt(t)), parse_vtt(to_vtt(t))):
        assert all("-->" not in c[3] for c in parsed)
        # the text is kept, except that arrows are shortened
        assert [re.sub("-+>", ">", c[3]) for c in parsed] == [
            re.sub("-+>", ">", x) for _, _, x in expected
        ]
        for cue, (start, end, _) in zip(parsed, expected, strict=True):
            assert cue[1] == pytest.approx(start, abs=0.0011)
            assert cue[2] == pytest.approx(end, abs=0.0011)
