"""The OpenAI-compatible audio API in distributed mode: `vidigest serve` writes to PostgreSQL and
the outbox, `vidigest run-all` (relay and workers over the Kafka-protocol broker) does the work,
and the request waits for the transcript the workers store. The client is the `openai` SDK."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.support import media
from tests.support.cluster import Cluster
from tests.support.ports import free_port

pytestmark = pytest.mark.slow

TEXT = "The river is calm this morning. We take the boat to the island."
GERMAN = "Guten Morgen. Heute ist das Wetter sehr schön, und wir gehen in den Park."


def test_transcription_and_translation_through_kafka(cluster: Cluster, tmp_path: Path) -> None:
    english = media.speech(tmp_path, TEXT, "mp3")
    german = media.speech(tmp_path, GERMAN, "wav", voice="de")
    cluster.start("run-all", name="run-all", metrics=False)
    port = free_port()
    server = cluster.start(
        "serve", "--host", "127.0.0.1", "--port", str(port), name="serve", metrics=False
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert server.popen.poll() is None, server.log_text()
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, server.log_text()
        time.sleep(0.2)

    client = OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=300)
    with english.open("rb") as f:
        raw = client.audio.transcriptions.with_raw_response.create(
            model="whisper-1",
            file=f,
            response_format="verbose_json",
            timestamp_granularities=["word"],
        )
    result = raw.parse()
    assert {"river", "boat", "island"} <= set(result.text.lower().replace(".", "").split())
    assert result.words and result.segments
    video_id = raw.headers["x-vidigest-video-id"]
    with german.open("rb") as f:
        translated = client.audio.translations.create(model="whisper-1", file=f)
    words = set(re.findall(r"[a-zäöüß]+", translated.text.lower()))
    assert "morning" in words and not {"heute", "wetter", "gehen"} & words, translated.text
    with english.open("rb") as f:  # the same request again: the same video
        again = client.audio.transcriptions.with_raw_response.create(model="whisper-1", file=f)
    assert again.headers["x-vidigest-video-id"] == video_id
    assert cluster.count("videos") == 2
    assert cluster.count("transcripts") == 2
