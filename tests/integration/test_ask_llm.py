"""POST /ask with an LLM configured (VIDIGEST_LLM_*), against a real OpenAI-compatible server
(llama.cpp prebuilt + SmolLM2-135M, tests/support/llm_server.py) through the real `openai` SDK.
The tiny model's prose is poor: what is checked is the path. Either the written answer is
kept, and then every citation it makes is a retrieved moment; or it is replaced by the quoted
answer with the reason, and the quotes cite the sentence that answers. An unreachable server
gives the quoted answer with its reason, never an error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import api_settings
from tests.support.llm_server import MODEL_ALIAS, LlamaServer, free_port
from tests.support.search import indexed_video
from tests.support.talks import build, load_topics
from vidigest.database.session import Database
from vidigest.http.main import create_app

pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with LlamaServer(log) as srv:
        yield srv


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[[str], TestClient]]:
    """A started app on a new SQLite database, asking the LLM at the given address."""
    clients: list[TestClient] = []

    def make(base_url: str) -> TestClient:
        url = f"sqlite:///{tmp_path / 'ask.db'}"
        app = create_app(api_settings(tmp_path / "data", url, **_llm(base_url)), run_workers=False)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _index(tmp_path: Path, transcript: object = None) -> str:
    database = Database(f"sqlite:///{tmp_path / 'ask.db'}")
    try:
        return indexed_video(database, transcript)  # type: ignore[arg-type]
    finally:
        database.dispose()


def _llm(base_url: str) -> dict[str, Any]:
    return {
        "llm_base_url": base_url,
        "llm_model": MODEL_ALIAS,
        "llm_context_tokens": 2048,
        "llm_max_output_tokens": 200,
        "llm_temperature": 0.0,
        "llm_response_format": "json_object",
        "llm_timeout_seconds": 300.0,
        "llm_max_retries": 0,
    }


@pytest.mark.slow
def test_ask_with_a_real_llm(
    make_client: Callable[[str], TestClient], tmp_path: Path, server: LlamaServer
) -> None:
    client = make_client(server.base_url)
    built = build(load_topics())
    video_id = _index(tmp_path, built.transcript)
    sentence = next(s for s in built.sentence_times if "Dunlop" in s)
    start, end = built.sentence_times[sentence]

    body = client.post("/ask", json={"question": "Who made the air filled tyre practical?"}).json()
    moments = [(m["video_id"], m["start"], m["end"]) for m in body["moments"]]
    assert moments and all(v == video_id for v, _, _ in moments)
    if body["method"] == "llm":
        assert body["fallback_reason"] is None and body["citations"]
        for citation in body["citations"]:
            assert any(s - 2 <= citation["at"] <= e + 2 for _, s, e in moments), citation
    else:
        assert body["fallback_reason"] and "LLM" in body["fallback_reason"]
        assert any(start - 1 <= c["at"] <= end for c in body["citations"]), body
    assert server.alive()


def test_ask_when_the_llm_is_away(make_client: Callable[[str], TestClient], tmp_path: Path) -> None:
    client = make_client(f"http://127.0.0.1:{free_port()}/v1")
    _index(tmp_path)
    body = client.post("/ask", json={"question": "What is a proboscis?"}).json()
    assert body["method"] == "extractive" and "unreachable" in body["fallback_reason"]
    assert "proboscis" in body["answer"]
