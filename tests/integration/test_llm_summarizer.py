"""The LLM summarizer against a real OpenAI-compatible server (llama.cpp prebuilt + SmolLM2-135M).

What is checked is the protocol path, not the tiny model's prose: requests with JSON-schema
constrained output, pydantic validation, map-reduce over several chunks under a small context
budget (the server's own token counts prove the budget held), key points mapped to real
sentences, exact chapter times, and the fallback to the extractive summary with its reason
when the output is not valid JSON, when the server stops mid-run, and when it is unreachable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.llm_server import MODEL_ALIAS, LlamaServer, free_port
from tests.support.talks import build, load_topics, true_chapter_spans
from vidigest.app import ModelCache
from vidigest.common.exceptions import ConfigurationError
from vidigest.common.types import Summary, Transcript
from vidigest.config import Settings
from vidigest.modules.summary import prompts
from vidigest.modules.summary.extractive import METHOD as EXTRACTIVE_METHOD
from vidigest.modules.summary.extractive import ExtractiveSummarizer
from vidigest.modules.summary.llm import LLMConfig, LLMSummarizer
from vidigest.modules.summary.text import split_sentences

REPO = Path(__file__).resolve().parents[2]
# A small context on purpose, so each chapter of the talk takes two map calls. The answer budget
# is generous: this tiny model fills every string to its maxLength, and a Digest at its limits is
# ~2200 characters.
CONTEXT = 1344
OUTPUT = 768

# The module's first test pays for the shared summary fixture (five grammar-constrained calls):
# ~2 min on 2 quiet cores, but CPU-bound, so a loaded machine needs far longer. The bound is a
# hang guard, not a speed check.
pytestmark = pytest.mark.timeout(2400)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with LlamaServer(log) as srv:
        yield srv


@pytest.fixture(scope="module")
def extractive() -> ExtractiveSummarizer:
    return ExtractiveSummarizer()


@pytest.fixture(scope="module")
def talk() -> Transcript:
    """The first two topics of the sample talk (bees, volcanoes): 1 min 56 s, 2 chapters."""
    return build(load_topics()[:2], spans=true_chapter_spans()[:2]).transcript


def config(base_url: str, **overrides: object) -> LLMConfig:
    values: dict[str, object] = {
        "base_url": base_url,
        "model": MODEL_ALIAS,
        "context_tokens": CONTEXT,
        "max_output_tokens": OUTPUT,
        "temperature": 0.0,
        "response_format": "json_object",  # JSON mode + schema grammar, as llama-cpp-python
        "timeout_seconds": 300.0,  # a loaded 2-core machine
        "max_retries": 1,
    }
    values.update(overrides)
    return LLMConfig(**values)  # type: ignore[arg-type]


def assert_is_extractive(summary: Summary, expected: Summary) -> None:
    assert summary.method == EXTRACTIVE_METHOD
    assert summary.abstract == expected.abstract
    assert summary.key_points == expected.key_points
    assert summary.chapters == expected.chapters
    assert summary.keywords == expected.keywords


class KillAfterFirstCall:
    """A progress reporter that stops the server once the first LLM call has answered."""

    def __init__(self, server: LlamaServer) -> None:
        self.server = server
        self.updates: list[float] = []

    def start(self, phase: str, total: float) -> None:
        pass

    def update(self, phase: str, completed: float) -> None:
        self.updates.append(completed)
        if completed > 10.0 and self.server.alive():  # 10 % = the extractive pass
            self.server.stop()

    def finish(self, phase: str) -> None:
        pass


# --- the protocol path ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llm_summary(server: LlamaServer, extractive: ExtractiveSummarizer, talk: Transcript) -> Summary:
    return LLMSummarizer(config(server.base_url), extractive).summarize(talk)


def test_map_reduce_over_several_chunks_within_the_budget(
    llm_summary: Summary, extractive: ExtractiveSummarizer, talk: Transcript
) -> None:
    info = llm_summary.metadata["llm"]
    assert "fallback" not in info, info
    assert llm_summary.method == "llm"
    assert info["prompt_version"] == prompts.PROMPT_VERSION
    base = extractive.summarize(talk)
    n_chapters = len(base.chapters)
    assert n_chapters == 2
    # more chunks than chapters: chapters were mapped in parts, then reduced per chapter
    assert info["chunks"] > n_chapters
    assert info["calls"]["map"] == info["chunks"]
    assert info["calls"]["chapter"] >= 1
    assert info["calls"]["reduce"] == 1
    # the server's own count: every prompt plus its answer fitted the context budget
    assert 0 < info["max_prompt_tokens"] <= CONTEXT - OUTPUT
    assert info["completion_tokens"] > 0


def test_chapter_times_are_the_extractive_ones_with_llm_titles(
    llm_summary: Summary, extractive: ExtractiveSummarizer, talk: Transcript
) -> None:
    base = extractive.summarize(talk)
    assert [(c.start, c.end) for c in llm_summary.chapters] == [
        (c.start, c.end) for c in base.chapters
    ]
    for chapter in llm_summary.chapters:
        assert chapter.title.strip() and chapter.summary.strip()
        assert len(chapter.title) <= prompts.MAX_TITLE_CHARS + 1
    assert llm_summary.abstract.strip()
    assert llm_summary.keywords == base.keywords


def test_key_points_are_timed_by_real_sentences(llm_summary: Summary, talk: Transcript) -> None:
    spans = {(round(s.start, 3), round(s.end, 3)) for s in split_sentences(talk)}
    assert llm_summary.key_points, llm_summary.metadata
    for point in llm_summary.key_points:
        assert (point.start, point.end) in spans, point
    assert [p.start for p in llm_summary.key_points] == sorted(
        p.start for p in llm_summary.key_points
    )
    assert llm_summary.metadata["llm"]["key_points_source"] in ("llm", "llm-map", "extractive")


# --- fallbacks -----------------------------------------------------------------------------------


def test_invalid_json_falls_back_with_the_reason(
    server: LlamaServer, extractive: ExtractiveSummarizer, talk: Transcript
) -> None:
    # 8 output tokens: the server cuts the JSON object short, as a real model can
    summary = LLMSummarizer(config(server.base_url, max_output_tokens=8), extractive).summarize(
        talk
    )
    assert_is_extractive(summary, extractive.summarize(talk))
    fallback = summary.metadata["llm"]["fallback"]
    assert fallback["stage"].startswith("map 1/")
    assert "invalid JSON" in fallback["reason"]
    assert "cut at the token limit" in fallback["reason"]
    assert summary.metadata["llm"]["prompt_version"] == prompts.PROMPT_VERSION
    assert summary.metadata["summarizer"] == "llm"
    assert summary.metadata["encoder"] == "all-MiniLM-L6-v2"  # the extractive metadata stays


def test_server_stopped_mid_run_falls_back(
    tmp_path: Path, extractive: ExtractiveSummarizer, talk: Transcript
) -> None:
    with LlamaServer(tmp_path / "server.log") as own:
        progress = KillAfterFirstCall(own)
        t0 = time.monotonic()
        summary = LLMSummarizer(config(own.base_url, timeout_seconds=60.0), extractive).summarize(
            talk, progress
        )
        assert not own.alive()
    info = summary.metadata["llm"]
    assert info["calls"]["map"] == 2  # the first answered; the second found no server
    assert info["fallback"]["stage"].startswith("map 2/")
    assert "unreachable" in info["fallback"]["reason"]
    assert_is_extractive(summary, extractive.summarize(talk))
    assert time.monotonic() - t0 < 600


def test_unreachable_endpoint_falls_back_at_once(
    extractive: ExtractiveSummarizer, talk: Transcript
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    t0 = time.monotonic()
    summary = LLMSummarizer(config(closed, max_retries=0), extractive).summarize(talk)
    assert time.monotonic() - t0 < 60
    assert_is_extractive(summary, extractive.summarize(talk))
    assert summary.metadata["llm"]["fallback"]["stage"].startswith("map 1/")


# --- selection: per deployment (settings) and per run (CLI) ---------------------------------------


def test_settings_select_the_summarizer(server: LlamaServer) -> None:
    llm = ModelCache(
        Settings(summarizer="llm", llm_base_url=server.base_url, llm_model=MODEL_ALIAS)
    ).summarizer()
    assert isinstance(llm, LLMSummarizer)
    assert llm.config.base_url == server.base_url
    models = ModelCache(Settings())
    assert isinstance(models.summarizer(), ExtractiveSummarizer)
    with pytest.raises(ConfigurationError, match="VIDIGEST_LLM_MODEL"):
        models.summarizer("llm")  # no model configured
    with pytest.raises(ConfigurationError, match="context budget"):
        LLMConfig(base_url=None, model="m", context_tokens=1024, max_output_tokens=1000)


@pytest.mark.slow
def test_process_with_summarizer_option(server: LlamaServer, tmp_path: Path) -> None:
    """`vidigest process --summarizer llm` reaches the server; its cut-short answers make it
    fall back, and the run still completes with the reason stored in summary.json."""
    out = tmp_path / "out"
    env = {
        "VIDIGEST_DATA_DIR": str(tmp_path / "data"),
        "VIDIGEST_LLM_BASE_URL": server.base_url,
        "VIDIGEST_LLM_MODEL": MODEL_ALIAS,
        "VIDIGEST_LLM_RESPONSE_FORMAT": "json_object",
        "VIDIGEST_LLM_MAX_OUTPUT_TOKENS": "8",
        "HF_HUB_OFFLINE": "1",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vidigest",
            "process",
            str(REPO / "samples" / "three_topics_talk.mp4"),
            "--out",
            str(out),
            "--summarizer",
            "llm",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["method"] == EXTRACTIVE_METHOD
    assert summary["metadata"]["summarizer"] == "llm"
    assert "invalid JSON" in summary["metadata"]["llm"]["fallback"]["reason"]
    assert len(summary["chapters"]) >= 2
