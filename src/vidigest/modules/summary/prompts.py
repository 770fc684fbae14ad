"""Every prompt the LLM summarizer sends, and the JSON each one must answer with.

Change a prompt or a schema here and bump PROMPT_VERSION: it is recorded in every summary's
metadata, so a stored summary says which prompts made it.

The calls (see `llm.py` for the orchestration):
- map: one transcript chunk (inside one chapter) -> title, summary, key points citing sentence ids
- chapter: the notes of a chapter that took several chunks -> its title and summary
- condense: notes too long for one call, a group at a time -> shorter notes (same citations)
- reduce: all chapters' notes -> the abstract and the key points, citing sentence ids
Sentences are shown as `[id] text`; a key point names the id of the sentence that states it, so
its timestamp is that sentence's. Ids the model was not shown are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

PROMPT_VERSION = "summary-llm/1"

# Lengths go into the JSON schema (maxLength), so constrained decoding stops a rambling model
# before the token limit cuts its JSON short. llama.cpp builds one grammar rule per allowed
# character: 600 works, 1200 exceeded its limits and killed the server process (measured with
# llama-cpp-python 0.3.36). Servers that ignore the schema get longer text cut at a word.
MAX_TITLE_CHARS = 80
MAX_POINT_CHARS = 200
MAX_SUMMARY_CHARS = 400
MAX_ABSTRACT_CHARS = 600
MAX_CHUNK_POINTS = 3
MAX_KEY_POINTS = 7


def _cut(limit: int) -> AfterValidator:
    """Whitespace collapsed; text that reached `limit` (a constrained decoder stops there, maybe
    mid-word) cut at the last word boundary, with an ellipsis."""

    def cut(text: str) -> str:
        text = " ".join(text.split())
        if len(text) < limit or " " not in text[:limit]:
            return text[:limit]
        return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "\u2026"

    return AfterValidator(cut)


def _field(limit: int, description: str) -> Any:
    return Field(description=description, json_schema_extra={"maxLength": limit})


Title = Annotated[str, _cut(MAX_TITLE_CHARS), _field(MAX_TITLE_CHARS, "2 to 6 words")]
Short = Annotated[str, _cut(MAX_SUMMARY_CHARS), _field(MAX_SUMMARY_CHARS, "1 or 2 sentences")]
PointText = Annotated[str, _cut(MAX_POINT_CHARS), _field(MAX_POINT_CHARS, "one short sentence")]
AbstractText = Annotated[
    str, _cut(MAX_ABSTRACT_CHARS), _field(MAX_ABSTRACT_CHARS, "2 to 4 sentences")
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CitedPoint(_Out):
    sentence_id: int = Field(description="the [id] of the transcript sentence that states it")
    text: PointText


class ChunkNotes(_Out):
    """Answer to the map prompt."""

    title: Title
    summary: Short
    key_points: list[CitedPoint] = Field(max_length=MAX_CHUNK_POINTS)


class ChapterNotes(_Out):
    """Answer to the chapter prompt."""

    title: Title
    summary: Short


class CondensedNotes(_Out):
    """Answer to the condense prompt."""

    summary: Short
    key_points: list[CitedPoint] = Field(max_length=MAX_CHUNK_POINTS)


class Digest(_Out):
    """Answer to the reduce prompt."""

    abstract: AbstractText
    key_points: list[CitedPoint] = Field(max_length=MAX_KEY_POINTS)


SYSTEM = (
    "You summarize transcripts of videos. Use only what the transcript says; never add facts. "
    "Write in the language of the transcript. Answer with one JSON object that matches the "
    "schema, and nothing else."
)


def _schema_line(model: type[BaseModel]) -> str:
    fields = ", ".join(f'"{name}"' for name in model.model_fields)
    return f"Answer with a JSON object with the keys {fields}."


def sentence_lines(sentences: Sequence[tuple[int, str]]) -> str:
    return "\n".join(f"[{i}] {text}" for i, text in sentences)


def map_prompt(sentences: Sequence[tuple[int, str]], part: int, parts: int) -> str:
    return (
        f"Part {part} of {parts} of a video transcript, one sentence per line with its [id]:\n\n"
        f"{sentence_lines(sentences)}\n\n"
        "Give this part a title of 2 to 6 words and a summary of 1 or 2 sentences, and list up "
        f"to {MAX_CHUNK_POINTS} key points. Each key point is one short sentence with the "
        "sentence_id of the line that states it (an [id] shown above).\n"
        f"{_schema_line(ChunkNotes)}"
    )


def chapter_prompt(notes: Sequence[tuple[str, str]]) -> str:
    body = "\n".join(f"- {title}: {summary}" for title, summary in notes)
    return (
        "Notes on consecutive parts of one chapter of a video:\n\n"
        f"{body}\n\n"
        "Give the whole chapter a title of 2 to 6 words and a summary of 1 or 2 sentences.\n"
        f"{_schema_line(ChapterNotes)}"
    )


def notes_block(summary: str, points: Sequence[tuple[int, str]], heading: str = "") -> str:
    lines = [f"{heading}{summary}".strip()]
    lines += [f"  [{i}] {text}" for i, text in points]
    return "\n".join(lines)


def condense_prompt(blocks: Sequence[str]) -> str:
    return (
        "Notes on consecutive parts of a video; candidate key points carry a sentence [id]:\n\n"
        + "\n\n".join(blocks)
        + "\n\nSummarize these notes in 2 or 3 sentences and keep up to "
        f"{MAX_CHUNK_POINTS} of the most important key points, each with its sentence_id "
        "(an [id] shown above).\n"
        f"{_schema_line(CondensedNotes)}"
    )


def reduce_prompt(blocks: Sequence[str]) -> str:
    return (
        "Notes on a whole video, in order; candidate key points carry a sentence [id]:\n\n"
        + "\n\n".join(blocks)
        + "\n\nWrite an abstract of the whole video in 2 to 4 sentences, and choose 3 to "
        f"{MAX_KEY_POINTS} key points, each one short sentence with the sentence_id of a "
        "candidate shown above.\n"
        f"{_schema_line(Digest)}"
    )
