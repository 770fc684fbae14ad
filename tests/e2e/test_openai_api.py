"""The OpenAI-compatible audio API as its users meet it: the official `openai` Python SDK (and
the `curl` commands of OpenAI's API reference) against `vidigest serve` in a subprocess,
embedded, with the real models. Every request is a normal video of the durable pipeline."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from sqlalchemy import create_engine, select

from tests.support import media
from tests.support.serve import vidigest_serve
from vidigest.common.exceptions import ModelError
from vidigest.modules.transcription.asr import WhisperTranscriber
from vidigest.modules.videos.models import Video

pytestmark = pytest.mark.slow

KEY = "sk-vidigest-test"
ENGLISH = (
    "The weather is nice today. We walk to the park and look at the river. "
    "Then we go home and cook dinner."
)
GERMAN = "Guten Morgen. Heute ist das Wetter sehr schön, und wir gehen in den Park."
CURL = shutil.which("curl")


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audio")
    return {
        "english": media.speech(folder, ENGLISH, "mp3"),
        "english_wav": media.speech(folder, ENGLISH, "wav"),
        "german": media.speech(folder, GERMAN, "m4a", voice="de"),
    }


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def server(server_dir: Path) -> Iterator[str]:
    env = {"VIDIGEST_API_KEYS": KEY, "VIDIGEST_OPENAI_WAIT_SECONDS": "300"}
    with vidigest_serve(server_dir, **env) as base:
        yield base


@pytest.fixture(scope="module")
def client(server: str) -> OpenAI:
    return OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0, timeout=600)


def _videos(server: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server}/videos?limit=500", headers={"X-API-Key": KEY}, timeout=30)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _recall(expected: str, got: str) -> float:
    want = set(_words(expected))
    return len(want & set(_words(got))) / len(want)


def test_models_lists_the_presets(client: OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids[:3] == ["whisper-1", "fast", "accurate"]
    model = client.models.retrieve("fast")
    assert (model.id, model.object, model.owned_by) == ("fast", "model", "vidigest")
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("whisper-large-v9")
    assert caught.value.body["param"] == "model"  # type: ignore[index]


def test_json_is_the_default_format(client: OpenAI, audio: dict[str, Path]) -> None:
    with audio["english"].open("rb") as f:
        result = client.audio.transcriptions.create(model="whisper-1", file=f)
    assert _recall(ENGLISH, result.text) >= 0.8, result.text
    assert result.usage is not None and result.usage.type == "duration"
    assert 5 <= result.usage.seconds <= 12


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_text_formats(client: OpenAI, audio: dict[str, Path], fmt: str) -> None:
    with audio["english"].open("rb") as f:
        body = client.audio.transcriptions.create(
            model="whisper-1",
            file=f,
            response_format=fmt,  # type: ignore[arg-type]
        )
    assert isinstance(body, str)
    assert _recall(ENGLISH, body) >= 0.8, body
    if fmt == "text":
        assert body.endswith("\n") and "-->" not in body
        return
    sep = "," if fmt == "srt" else "."
    stamp = rf"(\d\d):(\d\d):(\d\d){re.escape(sep)}(\d\d\d)"
    cues = re.findall(rf"{stamp} --> {stamp}", body)
    assert len(cues) >= 2, body

    def seconds(h: str, m: str, s: str, ms: str) -> float:
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    times = [(seconds(*cue[:4]), seconds(*cue[4:])) for cue in cues]
    assert all(start < end for start, end in times)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(times))
    if fmt == "vtt":
        assert body.startswith("WEBVTT")
    else:
        assert body.startswith("1\n")
    assert "Speaker" not in body


def test_verbose_json_with_word_and_segment_timestamps(
    client: OpenAI, audio: dict[str, Path]
) -> None:
    with audio["english"].open("rb") as f:
        result = client.audio.transcriptions.create(
            model="whisper-1",
            file=f,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert result.task == "transcribe" and result.language == "english"  # type: ignore[attr-defined]
    assert 5 <= result.duration <= 12
    assert _recall(ENGLISH, result.text) >= 0.8
    segments = result.segments
    assert segments and [s.id for s in segments] == list(range(len(segments)))
    for s in segments:
        assert 0 <= s.start < s.end <= result.duration + 0.5
        assert s.avg_logprob <= 0 and s.compression_ratio > 0 and s.temperature == 0.0
        assert s.seek == int(s.start * 100) and isinstance(s.tokens, list)
    words = result.words
    assert words is not None and len(words) >= len(_words(ENGLISH)) * 0.8
    assert all(0 <= w.start <= w.end <= result.duration + 0.5 for w in words)
    assert all(a.start <= b.start for a, b in itertools.pairwise(words))
    joined = " ".join(w.word for w in words)
    assert _recall(result.text, joined) == 1.0
    # every word lies inside a segment
    for w in words:
        assert any(s.start - 0.05 <= w.start and w.end <= s.end + 0.05 for s in segments), w


def test_verbose_json_without_word_granularity_has_no_words(
    client: OpenAI, audio: dict[str, Path]
) -> None:
    with audio["english"].open("rb") as f:
        raw = client.audio.transcriptions.with_raw_response.create(
            model="whisper-1",
            file=f,
            response_format="verbose_json",
            timestamp_granularities=["segment"],
        )
    body = json.loads(raw.text)
    assert "words" not in body and body["segments"]
    required = {
        "id", "seek", "start", "end", "text", "tokens", "temperature",
        "avg_logprob", "compression_ratio", "no_speech_prob",
    }  # fmt: skip
    assert all(required <= set(s) for s in body["segments"])


def test_word_timestamps_need_verbose_json(client: OpenAI, audio: dict[str, Path]) -> None:
    with audio["english"].open("rb") as f, pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="json", timestamp_granularities=["word"]
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert "verbose_json" in error["message"]


def test_translation_into_english_on_the_multilingual_model(
    client: OpenAI, server: str, audio: dict[str, Path]
) -> None:
    with audio["german"].open("rb") as f:
        result = client.audio.translations.create(
            model="whisper-1", file=f, response_format="verbose_json"
        )
    assert result.task == "translate" and result.language == "english"  # type: ignore[attr-defined]
    words = set(_words(result.text))
    assert {"morning", "park"} <= words, result.text
    assert not {"heute", "wetter", "gehen"} & words, result.text
    video = next(v for v in _videos(server) if v["filename"] == audio["german"].name)
    assert video["model"] == "accurate"
    stored = httpx.get(
        f"{server}/videos/{video['id']}/transcript", headers={"X-API-Key": KEY}, timeout=30
    ).json()
    assert stored["language"] == "en" and stored["text"] == result.text  # the text's language
    # the same German speech transcribed (not translated) stays German: a different video
    with audio["german"].open("rb") as f:
        german = client.audio.transcriptions.create(model="accurate", file=f)
    assert {"morgen", "park"} <= set(_words(german.text)), german.text


def test_an_english_only_model_cannot_translate(client: OpenAI, audio: dict[str, Path]) -> None:
    with audio["german"].open("rb") as f, pytest.raises(openai.BadRequestError) as caught:
        client.audio.translations.create(model="fast", file=f)
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == "model"
    assert "English-only" in error["message"]


def test_the_transcriber_refuses_to_translate_with_an_english_only_model(
    audio: dict[str, Path],
) -> None:
    with pytest.raises(ModelError, match="English-only"):
        WhisperTranscriber("fast").transcribe(audio["german"], task="translate")


def test_a_wrong_key_is_an_authentication_error(server: str, audio: dict[str, Path]) -> None:
    stranger = OpenAI(base_url=f"{server}/v1", api_key="sk-wrong", max_retries=0)
    with audio["english"].open("rb") as f, pytest.raises(openai.AuthenticationError) as caught:
        stranger.audio.transcriptions.create(model="whisper-1", file=f)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()


def test_unknown_model_and_unreadable_file(client: OpenAI, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio\n" * 100)
    with text.open("rb") as f, pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=f)
    assert caught.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert str(tmp_path) not in caught.value.message
    with text.open("rb") as f, pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-9", file=f)
    assert caught.value.body["param"] == "model"  # type: ignore[index]


def test_a_large_file(client: OpenAI, server: str, audio: dict[str, Path], tmp_path: Path) -> None:
    """Over 25 MB (OpenAI's own limit), streamed to storage: 96 kHz stereo 32-bit PCM, the
    speech followed by silence."""
    big = tmp_path / "large.wav"
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(audio["english_wav"]),
            "-af", "apad=whole_dur=40", "-ar", "96000", "-ac", "2", "-c:a", "pcm_s32le", str(big),
        ],
        check=True,
    )  # fmt: skip
    size = big.stat().st_size
    assert size > 28 * 1024 * 1024
    with big.open("rb") as f:
        raw = client.audio.transcriptions.with_raw_response.create(
            model="whisper-1", file=f, response_format="verbose_json"
        )
    result = raw.parse()
    assert _recall(ENGLISH, result.text) >= 0.8, result.text
    assert 39 <= result.duration <= 41
    video_id = raw.headers["x-vidigest-video-id"]
    video = next(v for v in _videos(server) if v["id"] == video_id)
    assert video["size_bytes"] == size and video["source_type"] == "upload"


def test_the_same_request_again_finds_the_same_video(
    client: OpenAI, server: str, audio: dict[str, Path], tmp_path: Path
) -> None:
    copy = tmp_path / "again.mp3"
    shutil.copyfile(audio["english"], copy)  # the same bytes, another name
    before = len(_videos(server))
    ids = set()
    for fmt in ("json", "srt", "json"):
        with copy.open("rb") as f:
            raw = client.audio.transcriptions.with_raw_response.create(
                model="whisper-1",
                file=f,
                response_format=fmt,  # type: ignore[arg-type]
            )
        ids.add(raw.headers["x-vidigest-video-id"])
    videos = _videos(server)
    created = [v for v in videos if v["id"] in ids]
    # the English speech was already sent by earlier tests of this module, or it is new once
    assert len(ids) == 1 and len(videos) - before <= 1
    assert created[0]["status"] in ("TRANSCRIBED", "SUMMARIZING", "COMPLETED")
    # another option is another transcription
    with copy.open("rb") as f:
        raw = client.audio.transcriptions.with_raw_response.create(
            model="whisper-1", file=f, language="en"
        )
    assert raw.headers["x-vidigest-video-id"] not in ids
    assert len(_videos(server)) == len(videos) + 1


def test_the_sha256_is_of_the_uploaded_bytes(
    server: str, server_dir: Path, audio: dict[str, Path]
) -> None:
    """The hash dedup compares is the upload's, as stored: one bit changed is another file."""
    original = audio["english_wav"].read_bytes()
    changed = original[:-1] + bytes([original[-1] ^ 1])  # the last sample, one bit off
    made = {}
    for name, data in (("original.wav", original), ("changed.wav", changed)):
        answer = httpx.post(
            f"{server}/v1/audio/transcriptions",
            headers={"Authorization": f"Bearer {KEY}"},
            files={"file": (name, data)},
            data={"model": "whisper-1"},
            timeout=600,
        )
        assert answer.status_code == 200, answer.text
        made[answer.headers["x-vidigest-video-id"]] = hashlib.sha256(data).hexdigest()
    assert len(made) == 2
    engine = create_engine(f"sqlite:///{server_dir / 'vidigest.db'}")
    try:
        with engine.connect() as connection:
            stored = dict(connection.execute(select(Video.id, Video.content_sha256)).all())
    finally:
        engine.dispose()
    assert {video_id: stored[video_id] for video_id in made} == made


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose requests do not wait at all for their transcript."""
    data = tmp_path_factory.mktemp("impatient")
    with vidigest_serve(data, VIDIGEST_OPENAI_WAIT_SECONDS="0") as base:
        yield base


def test_a_timeout_names_the_video_which_goes_on(impatient: str, audio: dict[str, Path]) -> None:
    client = OpenAI(base_url=f"{impatient}/v1", api_key="unused", max_retries=0)
    with audio["english"].open("rb") as f, pytest.raises(openai.APIStatusError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=f)
    assert caught.value.status_code == 504
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "still_processing"
    videos = httpx.get(f"{impatient}/videos", timeout=30).json()["items"]
    assert len(videos) == 1
    video_id = videos[0]["id"]
    assert video_id in error["message"]
    deadline = time.monotonic() + 300
    while httpx.get(f"{impatient}/videos/{video_id}", timeout=30).json()["status"] not in (
        "TRANSCRIBED",
        "SUMMARIZING",
        "COMPLETED",
    ):
        assert time.monotonic() < deadline, "the video was not transcribed"
        time.sleep(0.2)
    with audio["english"].open("rb") as f:
        raw = client.audio.transcriptions.with_raw_response.create(model="whisper-1", file=f)
    assert raw.headers["x-vidigest-video-id"] == video_id
    assert _recall(ENGLISH, raw.parse().text) >= 0.8
    assert len(httpx.get(f"{impatient}/videos", timeout=30).json()["items"]) == 1


# --- the curl examples of OpenAI's API reference, with the server's address ------------------


def _curl(*args: str) -> tuple[int, str]:
    assert CURL is not None, "curl is not installed"
    done = subprocess.run(
        [CURL, "-sS", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def test_curl_reference_examples(server: str, audio: dict[str, Path]) -> None:
    auth = f"Authorization: Bearer {KEY}"
    multipart = "Content-Type: multipart/form-data"
    mp3 = f"file=@{audio['english']}"

    status, body = _curl(f"{server}/v1/models", "-H", auth)
    assert status == 200 and json.loads(body)["object"] == "list"

    status, body = _curl(
        f"{server}/v1/audio/transcriptions", "-H", auth, "-H", multipart,
        "-F", mp3, "-F", "model=gpt-4o-transcribe",
    )  # fmt: skip
    assert status == 200, body
    assert _recall(ENGLISH, json.loads(body)["text"]) >= 0.8

    status, body = _curl(
        f"{server}/v1/audio/transcriptions", "-H", auth, "-H", multipart,
        "-F", mp3, "-F", "timestamp_granularities[]=word", "-F", "model=whisper-1",
        "-F", "response_format=verbose_json",
    )  # fmt: skip
    assert status == 200, body
    verbose = json.loads(body)
    assert verbose["words"] and {"word", "start", "end"} == set(verbose["words"][0])

    status, body = _curl(
        f"{server}/v1/audio/transcriptions", "-H", auth, "-H", multipart,
        "-F", mp3, "-F", "timestamp_granularities[]=segment", "-F", "model=whisper-1",
        "-F", "response_format=verbose_json",
    )  # fmt: skip
    assert status == 200, body
    assert json.loads(body)["segments"] and "words" not in json.loads(body)

    status, body = _curl(
        f"{server}/v1/audio/translations", "-H", auth, "-H", multipart,
        "-F", f"file=@{audio['german']}", "-F", "model=whisper-1",
    )  # fmt: skip
    assert status == 200, body
    assert "park" in _words(json.loads(body)["text"])

    status, body = _curl(
        f"{server}/v1/audio/transcriptions", "-H", "Authorization: Bearer wrong",
        "-H", multipart, "-F", mp3, "-F", "model=whisper-1",
    )  # fmt: skip
    assert status == 401
    assert json.loads(body)["error"]["code"] == "invalid_api_key"
