"""An OpenAI-compatible chat server for tests: a real llama.cpp model, prebuilt (cyllama).

`python -m tests.support.cyllama_server --model X.gguf --alias NAME --port N` serves /v1/models and
non-streaming /v1/chat/completions on loopback. The model runs in llama.cpp through vidigest's own
`LlamaEngine` (the local summarizer's), so no compiler is needed: llama-cpp-python has no wheel on
PyPI and compiled from source for 5-36 minutes. What a client relies on is honoured as an
OpenAI-compatible server does: the model's chat template, `max_tokens` (finish_reason "length"
when reached), `temperature` (0: greedy), the token counts in `usage`, and constrained JSON
output: `response_format` {"type": "json_schema", "json_schema": {"schema": ...}} or
{"type": "json_object", "schema": ...} becomes a grammar from the schema, lengths included (as
llama.cpp's own server does); {"type": "json_object"} alone, any JSON object.
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict

from vidigest.modules.summary.chat import LLMFailure
from vidigest.modules.summary.local import LlamaEngine, schema_grammar


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # e.g. top_p, n: accepted, defaults used

    model: str
    messages: list[Message]
    max_tokens: int | None = None
    temperature: float = 1.0
    seed: int | None = None
    stream: bool = False
    response_format: dict[str, Any] | None = None


def grammar_of(response_format: dict[str, Any] | None) -> str | None:
    if not response_format or response_format.get("type") == "text":
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
    elif kind == "json_object":
        schema = response_format.get("schema")
    else:
        raise HTTPException(400, f"unsupported response_format type {kind!r}")
    return schema_grammar(schema if isinstance(schema, dict) else {"type": "object"})


def create_app(engine: LlamaEngine, alias: str) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": alias, "object": "model", "owned_by": "tests"}]}

    @app.post("/v1/chat/completions")
    def chat(request: ChatRequest) -> dict[str, Any]:  # sync: runs in a worker thread
        if request.stream:
            raise HTTPException(400, "streaming is not supported by this test server")
        room = engine.context_tokens // 2
        try:
            answer = engine.generate(
                [(m.role, m.content) for m in request.messages],
                max_tokens=request.max_tokens or room,
                grammar=grammar_of(request.response_format),
                temperature=request.temperature,
                seed=request.seed if request.seed is not None else 42,
            )
        except LLMFailure as failure:
            raise HTTPException(400, failure.reason) from failure
        prompt, completion = answer.prompt_tokens or 0, answer.completion_tokens or 0
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": alias,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.content},
                    "finish_reason": "length" if answer.cut else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    engine = LlamaEngine(args.model, context_tokens=args.n_ctx, threads=args.threads)
    engine.load()  # before listening: ready means ready to answer
    uvicorn.run(create_app(engine, args.alias), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
