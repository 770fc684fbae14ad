"""Summaries written by an LLM on any OpenAI-compatible server (vLLM, Ollama, llama.cpp, OpenAI),
or in-process with no server (`local.py`): the chat backend is the only difference (`chat.py`).

The extractive summarizer always runs first: it is cheap, it gives the chapter boundaries (so
chapter times stay exact) and it is the answer whenever the LLM path fails. Then, map-reduce:

1. map: the transcript's sentences are packed into chunks that fit the context budget, never
   across a chapter boundary; each chunk -> title, summary and key points citing sentence ids.
2. chapter: a chapter that took several chunks gets its title and summary from their notes.
3. reduce: every chapter's notes -> abstract and key points (citing sentence ids); notes too
   long for one call are first condensed a group at a time (and again, until they fit).

Every answer is JSON, constrained by the JSON schema where the server supports it, and validated
with pydantic. A key point is kept only if it cites a sentence id the model was shown in that
call and shares a content word with that sentence; its timestamps are the sentence's. Keywords
stay extractive. Any failure (unreachable endpoint after the SDK's retries with backoff, timeout,
HTTP error, invalid JSON, output cut at the token limit, an empty abstract) returns the
extractive summary with the reason in `metadata["llm"]`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from vidigest.common.exceptions import ConfigurationError
from vidigest.common.types import (
    Chapter,
    KeyPoint,
    NullProgress,
    ProgressReporter,
    Summary,
    Transcript,
)
from vidigest.modules.summary import prompts
from vidigest.modules.summary.chat import (
    ChatBackend,
    LLMFailure,
    OpenAIChat,
    ResponseFormat,
)
from vidigest.modules.summary.extractive import ExtractiveResult, ExtractiveSummarizer
from vidigest.modules.summary.text import FILLERS, STOPWORDS, Sentence, words_of

if TYPE_CHECKING:
    from vidigest.config import Settings

log = logging.getLogger(__name__)

METHOD = "llm"
STAGE = "summarize"
T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class LLMConfig:
    base_url: str | None  # None: the SDK's default (OPENAI_BASE_URL or api.openai.com)
    model: str
    api_key: str | None = None  # local servers need none
    timeout_seconds: float = 120.0  # per request
    max_retries: int = 2  # per request, exponential backoff (the SDK's)
    context_tokens: int = 8192  # the model's context window, or less to keep calls small
    max_output_tokens: int = 1024
    chars_per_token: float = 3.0  # estimate for packing; low = conservative
    temperature: float = 0.2
    response_format: ResponseFormat = "json_schema"

    def __post_init__(self) -> None:
        if not self.model:
            raise ConfigurationError("the LLM summarizer needs a model name (VIDIGEST_LLM_MODEL)")
        if self.input_budget < 128:
            raise ConfigurationError(
                f"LLM context budget too small: {self.context_tokens} context tokens leave "
                f"{self.input_budget} for the input after {self.max_output_tokens} output tokens"
            )

    @property
    def input_budget(self) -> int:
        """Tokens a prompt may take: the context minus the answer and a 10 % margin."""
        return int(self.context_tokens * 0.9) - self.max_output_tokens


@dataclass
class _Usage:
    calls: dict[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    max_prompt_tokens: int = 0
    dropped_key_points: int = 0
    constrained_retries: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "max_prompt_tokens": self.max_prompt_tokens,
            "dropped_key_points": self.dropped_key_points,
            "constrained_retries": self.constrained_retries,
        }


@dataclass(frozen=True)
class _Notes:
    """What is known about one stretch of the talk: a summary and cited key points."""

    summary: str
    points: tuple[tuple[int, str], ...]  # (sentence id, text)
    title: str = ""


def _content_words(text: str) -> set[str]:
    return {w for w in words_of(text) if w not in STOPWORDS and w not in FILLERS and len(w) > 2}


def _clean(text: str) -> str:
    return " ".join(text.split()).strip()


def _clean_title(text: str) -> str:
    return _clean(text).strip("\"'`*#").rstrip(".:;,").strip()


class LLMSummarizer:
    """Abstract, key points and chapter titles/summaries from an LLM; extractive on failure."""

    def __init__(
        self,
        config: LLMConfig,
        extractive: ExtractiveSummarizer | None = None,
        backend: ChatBackend | None = None,
    ) -> None:
        self.config = config
        self.extractive = extractive or ExtractiveSummarizer()
        # None: an OpenAI-compatible server, as configured (VIDIGEST_LLM_*)
        self.backend: ChatBackend = backend if backend is not None else OpenAIChat(config)

    # --- public -------------------------------------------------------------------------------

    def summarize(
        self, transcript: Transcript, progress: ProgressReporter | None = None
    ) -> Summary:
        progress = progress or NullProgress()
        t0 = time.perf_counter()
        progress.start(STAGE, 100.0)
        base = self.extractive.run(transcript)
        progress.update(STAGE, 10.0)
        usage = _Usage()
        info: dict[str, Any] = {
            "model": self.config.model,
            "prompt_version": prompts.PROMPT_VERSION,
            "response_format": self.config.response_format,
            "context_tokens": self.config.context_tokens,
            **self.backend.details,
        }
        try:
            summary = self._summarize(base, usage, info, progress)
        except LLMFailure as failure:
            log.warning("LLM summary failed (%s); using the extractive summary", failure)
            info.update(usage.as_dict())
            info["seconds"] = round(time.perf_counter() - t0, 3)
            info["fallback"] = {"reason": failure.reason, "stage": failure.stage}
            progress.finish(STAGE)
            metadata = {**base.summary.metadata, "summarizer": self.backend.kind, "llm": info}
            return base.summary.model_copy(update={"metadata": metadata})
        info.update(usage.as_dict())
        info["seconds"] = round(time.perf_counter() - t0, 3)
        progress.finish(STAGE)
        metadata = {
            "summarizer": self.backend.kind,
            "llm": info,
            "extractive": base.summary.metadata,
        }
        return summary.model_copy(update={"metadata": metadata})

    # --- the map-reduce -------------------------------------------------------------------------

    def _summarize(
        self,
        base: ExtractiveResult,
        usage: _Usage,
        info: dict[str, Any],
        progress: ProgressReporter,
    ) -> Summary:
        sentences = base.sentences
        chunks = self.chunks(sentences, base.bounds)
        info["chunks"] = len(chunks)
        n_chapters = len(base.bounds) - 1
        multi = sum(1 for c in range(n_chapters) if sum(1 for ch, _ in chunks if ch == c) > 1)
        planned = len(chunks) + multi + 1
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            progress.update(STAGE, 10.0 + 90.0 * min(done, planned) / (planned + 1))

        # 1. map
        chunk_notes: list[tuple[int, _Notes]] = []
        for k, (chapter, ids) in enumerate(chunks):
            shown = [(i, sentences[i].text) for i in ids]
            stage = f"map {k + 1}/{len(chunks)}"
            out = self._call(
                prompts.map_prompt(shown, k + 1, len(chunks)), prompts.ChunkNotes, stage, usage
            )
            points = self._grounded(out.key_points, {i: sentences[i] for i in ids}, usage)
            chunk_notes.append(
                (chapter, _Notes(_clean(out.summary), points, _clean_title(out.title)))
            )
            tick()

        # 2. chapters
        chapter_notes: list[_Notes] = []
        for c in range(n_chapters):
            parts = [n for ch, n in chunk_notes if ch == c]
            points = tuple(p for n in parts for p in n.points)
            if len(parts) == 1:
                title, summary = parts[0].title, parts[0].summary
            else:
                out_c = self._call(
                    prompts.chapter_prompt([(n.title, n.summary) for n in parts]),
                    prompts.ChapterNotes,
                    f"chapter {c + 1}/{n_chapters}",
                    usage,
                )
                title, summary = _clean_title(out_c.title), _clean(out_c.summary)
                tick()
            if not title or not summary:
                raise LLMFailure("empty chapter title or summary", f"chapter {c + 1}")
            chapter_notes.append(_Notes(summary, points, title))

        # 3. reduce (condensing first while the notes do not fit one call)
        blocks = [
            prompts.notes_block(n.summary, n.points, f'Chapter {c + 1} "{n.title}": ')
            for c, n in enumerate(chapter_notes)
        ]
        notes = chapter_notes
        allowed = {i for n in chapter_notes for i, _ in n.points}
        level = 0
        while self._tokens(prompts.reduce_prompt(blocks)) > self.config.input_budget:
            level += 1
            if level > 4 or len(blocks) == 1:
                raise LLMFailure("the notes do not fit the context budget", "reduce")
            notes = self._condense(blocks, notes, sentences, usage, level)
            blocks = [prompts.notes_block(n.summary, n.points) for n in notes]
            allowed = {i for n in notes for i, _ in n.points}
        digest = self._call(prompts.reduce_prompt(blocks), prompts.Digest, "reduce", usage)
        tick()
        abstract = _clean(digest.abstract)
        if not abstract:
            raise LLMFailure("empty abstract", "reduce")
        by_id = {i: sentences[i] for i in allowed}
        key = self._grounded(digest.key_points, by_id, usage)
        source = "llm"
        if not key:  # nothing valid chosen: the cited points of the map step, spread over chapters
            key = tuple(_spread([n.points for n in chapter_notes], prompts.MAX_KEY_POINTS))
            source = "llm-map" if key else "extractive"
        info["key_points_source"] = source
        info["reduce_levels"] = level
        key_points = (
            tuple(
                KeyPoint(
                    text=text,
                    start=round(sentences[i].start, 3),
                    end=round(sentences[i].end, 3),
                )
                for i, text in sorted(key)
            )
            if key
            else base.summary.key_points
        )
        chapters = tuple(
            Chapter(start=ch.start, end=ch.end, title=n.title, summary=n.summary)
            for ch, n in zip(base.summary.chapters, chapter_notes, strict=True)
        )
        return Summary(
            abstract=abstract,
            key_points=key_points,
            chapters=chapters,
            keywords=base.summary.keywords,
            method=METHOD,
        )

    def _condense(
        self,
        blocks: Sequence[str],
        notes: Sequence[_Notes],
        sentences: Sequence[Sentence],
        usage: _Usage,
        level: int,
    ) -> list[_Notes]:
        """Groups of consecutive notes, each fitting one call, condensed to one note each."""
        groups: list[list[int]] = [[]]
        for j, block in enumerate(blocks):
            trial = [blocks[g] for g in groups[-1]] + [block]
            if (
                groups[-1]
                and self._tokens(prompts.condense_prompt(trial)) > self.config.input_budget
            ):
                groups.append([])
            groups[-1].append(j)
        if len(groups) == len(blocks) and len(blocks) > 1:  # no two fit together: pair them
            groups = [list(range(j, min(j + 2, len(blocks)))) for j in range(0, len(blocks), 2)]
        out: list[_Notes] = []
        for g, group in enumerate(groups):
            shown = {i: sentences[i] for j in group for i, _ in notes[j].points}
            res = self._call(
                prompts.condense_prompt([blocks[j] for j in group]),
                prompts.CondensedNotes,
                f"condense {level}.{g + 1}/{len(groups)}",
                usage,
            )
            summary = _clean(res.summary)
            if not summary:
                raise LLMFailure("empty summary", f"condense {level}.{g + 1}")
            out.append(_Notes(summary, self._grounded(res.key_points, shown, usage)))
        return out

    # --- pieces -------------------------------------------------------------------------------

    def _tokens(self, text: str) -> int:
        return math.ceil((len(prompts.SYSTEM) + len(text)) / self.config.chars_per_token)

    def chunks(
        self, sentences: Sequence[Sentence], bounds: Sequence[int]
    ) -> list[tuple[int, list[int]]]:
        """(chapter, sentence ids) of each map call: consecutive sentences of one chapter whose
        map prompt fits the input budget (a single sentence too long for it goes alone)."""
        out: list[tuple[int, list[int]]] = []
        for c in range(len(bounds) - 1):
            current: list[int] = []
            for i in range(bounds[c], bounds[c + 1]):
                trial = [*current, i]
                shown = [(j, sentences[j].text) for j in trial]
                # part numbers take a few characters: count them generously
                if current and self._tokens(prompts.map_prompt(shown, 999, 999)) > (
                    self.config.input_budget
                ):
                    out.append((c, current))
                    current = [i]
                else:
                    current = trial
            if current:
                out.append((c, current))
        return out

    def _grounded(
        self, points: Sequence[prompts.CitedPoint], shown: dict[int, Sentence], usage: _Usage
    ) -> tuple[tuple[int, str], ...]:
        """Key points that cite a sentence shown in the call and share a content word with it;
        one per sentence. Anything else was invented: dropped (and counted)."""
        kept: dict[int, str] = {}
        for p in points:
            text = _clean(p.text)
            sentence = shown.get(p.sentence_id)
            if (
                sentence is None
                or not text
                or p.sentence_id in kept
                or not (_content_words(text) & _content_words(sentence.text))
            ):
                usage.dropped_key_points += 1
                continue
            kept[p.sentence_id] = text
        return tuple(kept.items())

    def _call(self, prompt: str, schema: type[T], stage: str, usage: _Usage) -> T:
        kind = stage.split()[0]
        usage.calls[kind] = usage.calls.get(kind, 0) + 1
        answer = self.backend.complete(prompts.SYSTEM, prompt, schema, stage)
        if answer.prompt_tokens is not None:
            usage.prompt_tokens += answer.prompt_tokens
            usage.max_prompt_tokens = max(usage.max_prompt_tokens, answer.prompt_tokens)
        if answer.completion_tokens is not None:
            usage.completion_tokens += answer.completion_tokens
        usage.constrained_retries += answer.constrained_retry
        content = answer.content
        cut = " (output cut at the token limit)" if answer.cut else ""
        try:
            # strict=False: raw newlines inside strings (grammars often allow them) are accepted
            data = json.loads(_strip_fences(content), strict=False)
        except ValueError as exc:
            raise LLMFailure(f"invalid JSON{cut}: {exc}: {content[:120]!r}", stage) from exc
        try:
            return schema.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            what = (
                f"{'.'.join(str(x) for x in errors[0]['loc'])}: {errors[0]['msg']}"
                if errors
                else str(exc)
            )
            raise LLMFailure(f"JSON does not match the schema{cut}: {what}", stage) from exc


def _strip_fences(content: str) -> str:
    """Models without constrained output often wrap JSON in a ``` fence."""
    text = content.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text.strip()


def _spread(per_chapter: Sequence[Sequence[tuple[int, str]]], k: int) -> list[tuple[int, str]]:
    """Up to k points taken round-robin over chapters."""
    out: list[tuple[int, str]] = []
    for rank in range(max((len(p) for p in per_chapter), default=0)):
        for points in per_chapter:
            if rank < len(points) and len(out) < k:
                out.append(points[rank])
    return out


def dumps_schema(schema: type[BaseModel]) -> str:
    """The JSON schema of an answer, as sent (for docs and debugging)."""
    return json.dumps(schema.model_json_schema(), indent=2)


def config_from_settings(settings: Settings) -> LLMConfig:
    """The LLM settings of a deployment (VIDIGEST_LLM_*)."""
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return LLMConfig(
        base_url=settings.llm_base_url or None,
        model=settings.llm_model,
        api_key=key,
        timeout_seconds=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
        context_tokens=settings.llm_context_tokens,
        max_output_tokens=settings.llm_max_output_tokens,
        temperature=settings.llm_temperature,
        response_format=settings.llm_response_format,
    )
