"""Where the LLM summarizer's chat calls go: a seam with one class per backend.

The map-reduce in `llm.py` (prompts, JSON validation, grounding, fallback) is the same whoever
answers; a backend only turns (system, user, answer schema) into the model's text and its token
counts, and turns its own failures into `LLMFailure` with a reason a user can read:

- `OpenAIChat`: any OpenAI-compatible server (vLLM, Ollama, llama.cpp, OpenAI), over the
  `openai` SDK (retries with backoff, timeouts).
- `LocalChat` (`local.py`): a GGUF model run in-process by llama.cpp, no server, no network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from vidigest.modules.summary.llm import LLMConfig

ResponseFormat = Literal["json_schema", "json_object", "none"]


class LLMFailure(Exception):
    """The LLM path cannot finish; `reason` says why in words, `stage` which call."""

    def __init__(self, reason: str, stage: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.reason = reason
        self.stage = stage


@dataclass(frozen=True)
class ChatAnswer:
    content: str
    cut: bool  # generation stopped at the token limit, not at the model's end
    prompt_tokens: int | None = None  # as counted by whoever ran the model, when known
    completion_tokens: int | None = None
    constrained_retry: bool = False  # answered on a second try, under the schema's grammar


class ChatBackend(Protocol):
    kind: str  # recorded as metadata["summarizer"]: "llm" (a server) or "local"
    details: dict[str, Any]  # recorded in metadata["llm"]: what ran the model

    def complete(
        self, system: str, user: str, schema: type[BaseModel], stage: str
    ) -> ChatAnswer:  # pragma: no cover - a protocol
        """The model's answer to one call; raises LLMFailure when there is none."""
        ...


class OpenAIChat:
    """Chat completions on an OpenAI-compatible server."""

    kind = "llm"

    def __init__(self, config: LLMConfig) -> None:
        from openai import OpenAI

        self.config = config
        self.details: dict[str, Any] = {}
        self.client = OpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "not-needed",
            timeout=config.timeout_seconds,
            max_retries=config.max_retries,
        )

    def _response_format(self, schema: type[BaseModel]) -> dict[str, Any] | None:
        fmt = self.config.response_format
        if fmt == "json_schema":  # OpenAI, vLLM, Ollama, llama.cpp's llama-server
            return {
                "type": "json_schema",
                "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
            }
        if fmt == "json_object":  # llama-cpp-python's server: JSON mode with a schema grammar
            return {"type": "json_object", "schema": schema.model_json_schema()}
        return None

    def complete(self, system: str, user: str, schema: type[BaseModel], stage: str) -> ChatAnswer:
        import openai

        kwargs: dict[str, Any] = {}
        response_format = self._response_format(schema)
        if response_format is not None:
            kwargs["response_format"] = response_format
        try:
            response = self.client.chat.completions.create(
                model=self.config.model,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                temperature=self.config.temperature,
                max_tokens=self.config.max_output_tokens,
                **kwargs,
            )
        except openai.APITimeoutError as exc:
            raise LLMFailure(
                f"timed out after {self.config.timeout_seconds:g} s "
                f"({self.config.max_retries} retries)",
                stage,
            ) from exc
        except openai.APIConnectionError as exc:
            raise LLMFailure(
                f"endpoint unreachable after {self.config.max_retries} retries: {exc}", stage
            ) from exc
        except openai.APIStatusError as exc:
            raise LLMFailure(
                f"HTTP {exc.status_code} from the endpoint: {str(exc.message)[:300]}", stage
            ) from exc
        except openai.OpenAIError as exc:
            raise LLMFailure(f"{type(exc).__name__}: {exc}", stage) from exc
        if not response.choices:
            raise LLMFailure("the endpoint returned no choices", stage)
        choice = response.choices[0]
        usage = response.usage
        return ChatAnswer(
            content=choice.message.content or "",
            cut=choice.finish_reason == "length",
            prompt_tokens=usage.prompt_tokens if usage is not None else None,
            completion_tokens=usage.completion_tokens if usage is not None else None,
        )
