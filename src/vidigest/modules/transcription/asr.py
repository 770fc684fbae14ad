"""Speech to text: Whisper (CTranslate2, via faster-whisper) over audio streamed in windows.

The parts live beside this file: the model presets and their checksums in `model_files`, where a
window ends in `windows`, the language vote in `language`, the pinned CPU kernels in `kernels`.
Every option is passed in (`from_settings` reads them from Settings); nothing here reads the
environment.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidigest.common.exceptions import ModelError
from vidigest.common.types import NullProgress, ProgressReporter, Segment, Task, Transcript
from vidigest.config import Settings
from vidigest.media.probe import check_duration, probe_media
from vidigest.modules.transcription.alignment import align_words
from vidigest.modules.transcription.audio import SAMPLE_RATE, iter_audio
from vidigest.modules.transcription.batching import batches_per_window, pipeline_class
from vidigest.modules.transcription.kernels import pin_cpu_kernels
from vidigest.modules.transcription.language import check_language, detect_language
from vidigest.modules.transcription.model_files import FAST, ResolvedModel, resolve_model
from vidigest.modules.transcription.windows import (
    Accumulator,
    Audio,
    RawSegment,
    choose_cut,
    keep_before,
    split_sentences,
    to_raw_segment,
)

log = logging.getLogger(__name__)

# VAD chunks (up to 30 s of speech each) decoded together in one batch, within each window: 16
# holds the ~10-11 chunks of a 300 s window of speech, and was at least as fast as 8 on 2 cores
# (docs/benchmarks.md#batched-decoding). 1 = the sequential decoder.
DEFAULT_BATCH_SIZE = 16


def default_compute_type(device: str) -> str:
    """int8 on CPU (as before); float16 on CUDA, the GPU type the issue asks for (no GPU here
    to measure int8_float16 against it). "auto": by whether CTranslate2 sees a CUDA device."""
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    return "float16" if device == "cuda" else "int8"


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

    The defaults are those of Settings; `from_settings` takes them from there. Safe to share
    between threads (loading is locked).
    """

    def __init__(
        self,
        model: str = FAST,
        *,
        device: str = "cpu",
        compute_type: str | None = None,
        threads: int = 0,
        beam_size: int = 5,
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress_steps: int = 4,
        window_seconds: float = 300.0,
        guard_seconds: float | None = None,
        data_dir: Path | None = None,
        cpu_isa: str = "AVX2",
        language_windows: int = 3,
        max_media_seconds: float = 0.0,
        align_words: bool = False,
    ) -> None:
        self.spec = model
        self.device = device
        self.compute_type = compute_type  # None: by device, decided when the model loads
        self.threads = threads
        self.beam_size = beam_size
        if batch_size < 1:
            raise ValueError("need batch_size >= 1")
        self.batch_size = batch_size  # VAD chunks decoded at once; 1: one after the other
        if progress_steps < 1:
            raise ValueError("need progress_steps >= 1")
        self.progress_steps = progress_steps  # reports a short file's batched decoding makes
        self.data_dir = data_dir  # where "accurate" is joined; other models do not need it
        self.cpu_isa = cpu_isa
        self.max_media_seconds = max_media_seconds  # the audio one file may hold; 0: no limit
        self.align_words = align_words  # refine word times by forced alignment (English)
        if guard_seconds is None:
            guard_seconds = min(5.0, window_seconds / 4)
        if window_seconds < 4.0 or not 0 < guard_seconds <= window_seconds / 2:
            raise ValueError("need window_seconds >= 4 and 0 < guard_seconds <= window_seconds / 2")
        if language_windows < 1:
            raise ValueError("need language_windows >= 1")
        self.window_seconds = window_seconds
        self.guard_seconds = guard_seconds
        self.language_windows = language_windows
        self._resolved: ResolvedModel | None = None
        self._model: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, model: str | None = None) -> WhisperTranscriber:
        """The transcriber the settings describe (`model` overrides settings.asr_model)."""
        return cls(
            model or settings.asr_model,
            device=settings.asr_device,
            compute_type=settings.asr_compute_type,
            threads=settings.asr_threads,
            beam_size=settings.asr_beam_size,
            batch_size=settings.asr_batch_size,
            progress_steps=settings.asr_progress_steps,
            window_seconds=settings.asr_window_seconds,
            data_dir=settings.data_dir,
            cpu_isa=settings.asr_cpu_isa,
            max_media_seconds=settings.max_media_seconds,
            align_words=settings.align_words,
        )

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

    def load_weights(self) -> Any:
        """Load the model weights now (else on the first transcribe). Not `load`: on the storage
        services that verb reads rows (`TranscriptService.load`)."""
        resolved = self.resolved
        with self._lock:
            if self._model is None:
                if self.device != "cuda":
                    pin_cpu_kernels(self.cpu_isa)  # before CTranslate2 loads its first model
                from faster_whisper import WhisperModel

                if self.compute_type is None:  # after the pin: it must precede CTranslate2
                    self.compute_type = default_compute_type(self.device)
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
        return bool(self.load_weights().model.is_multilingual)

    def transcribe(
        self,
        path: str | Path,
        *,
        language: str | None = None,
        progress: ProgressReporter | None = None,
        stream_index: int = 0,
        start_at: float = 0.0,
        task: Task = "transcribe",
    ) -> Transcript:
        """Transcribe audio stream `stream_index` of a media file (from `start_at` seconds).

        `language` (e.g. "en", "de"; None or "auto" to detect) applies to multilingual models;
        English-only models always transcribe English. `task` "translate" writes the speech
        down in English (multilingual models only: ModelError otherwise). Progress stages:
        "decode" and "transcribe", both in seconds of audio with total = the media duration.
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
            task=task,
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
        task: Task = "transcribe",
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
        # the limit holds on what the file declares (before the model loads) and on what it holds
        info = check_duration(probe_media(path), self.max_media_seconds)
        model = self.load_weights()
        model_name = self.resolved.name
        language = None if language in (None, "", "auto") else check_language(language)
        fixed: str | None  # the language to transcribe in, known up front
        if task == "translate" and not model.model.is_multilingual:
            raise ModelError(
                f"the model {model_name} is English-only: it cannot translate "
                "(use a multilingual model such as the 'accurate' preset)"
            )
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
            max_seconds=self.max_media_seconds,
        )
        search = min(15.0, (self.window_seconds - self.guard_seconds) / 2)
        buffer: list[Audio] = []
        buffered = 0  # samples in buffer
        offset = round(start_at * sr)  # absolute sample index of buffer[0]
        decoded = offset
        exhausted = False
        out = Accumulator(first_index, previous_end if previous_end is not None else start_at)
        heard = _Heard(progress, limit=info.duration or None)
        batches = batches_per_window(
            info.duration, self.window_seconds - self.guard_seconds, self.progress_steps
        )
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
                segments: list[RawSegment] = []
                if audio.size:
                    language_now = fixed or locked
                    if language_now is None:
                        vote = detect_language(model, audio, windows=self.language_windows)
                        if vote is not None:
                            language_now = detected = vote.language
                            detected_probability = vote.probability
                    if language_now is not None:  # else the VAD heard nothing to transcribe
                        segments = self._run(
                            model,
                            audio,
                            language_now,
                            task,
                            batches=batches,
                            on_segment=heard.within(
                                offset / sr,
                                (offset + audio.size) / sr - (0.0 if last else self.guard_seconds),
                            ),
                        )
                    if segments and locked is None and fixed is None:
                        locked = detected  # speech heard: keep its language for the file
                if last:
                    cut = audio.size
                    kept = segments
                else:
                    cut_seconds = choose_cut(audio, segments, self.guard_seconds, search)
                    cut = min(audio.size, max(sr // 2, round(cut_seconds * sr)))
                    kept = keep_before(segments, cut / sr)
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "window %.2f-%.2f s: %s; cut at %.2f s",
                        offset / sr,
                        (offset + audio.size) / sr,
                        [(round(g.start, 2), round(g.end, 2), g.text) for g in segments],
                        (offset + cut) / sr,
                    )
                limit = (offset + audio.size) / sr
                before, floor = len(out.segments), out.last_end
                for seg in kept:
                    out.add(seg, offset / sr, limit)
                result_language = fixed or locked or detected or "en"
                # a translation is English text, whatever was spoken
                text_language = "en" if task == "translate" else result_language
                if self.align_words and len(out.segments) > before:
                    # only the audio before the cut: no word moves into the next window
                    out.replace_from(
                        before,
                        align_words(
                            audio[:cut],
                            out.segments[before:],
                            text_language,
                            offset=offset / sr,
                        ),
                        floor,
                    )
                heard.report((offset + cut) / sr)
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

    def _run(
        self,
        model: Any,
        audio: Audio,
        language: str,
        task: Task = "transcribe",
        batches: int = 1,
        on_segment: Callable[[float], None] | None = None,
    ) -> list[RawSegment]:
        """The segments of one window (times relative to it). `on_segment` hears the end of each
        segment as it is decoded (progress within the window: the sequential decoder yields
        segment by segment, the batched one batch by batch, in at least `batches` batches:
        see batching.py).

        batch_size > 1: faster-whisper's BatchedInferencePipeline. Its VAD (speech chunks of at
        most 30 s, split at silences of 160 ms) cuts the window into chunks that are decoded
        `batch_size` at a time, each without the text before it as a prompt (as the sequential
        path here does: `condition_on_previous_text=False`) and at temperature 0 only; its
        segments (one per chunk) are cut at sentence ends by their word timestamps. One
        pipeline per call: it carries the last word's time from batch to batch, so a shared one
        would leak state between windows and threads. batch_size 1: the sequential decoder.
        """
        if self.batch_size > 1:
            segments, _info = pipeline_class()(model, batches).transcribe(
                audio,
                language=language,
                task=task,
                beam_size=self.beam_size,
                word_timestamps=True,
                vad_filter=True,
                batch_size=self.batch_size,
                without_timestamps=True,  # one segment per chunk: see split_sentences
            )
            pieces: list[RawSegment] = []
            for s in segments:
                pieces.extend(split_sentences(to_raw_segment(s)))
                if on_segment is not None:
                    on_segment(float(s.end))
            return pieces
        else:
            segments, _info = model.transcribe(
                audio,
                language=language,
                task=task,
                beam_size=self.beam_size,
                word_timestamps=True,
                vad_filter=True,
                condition_on_previous_text=False,
            )
        raw: list[RawSegment] = []
        for s in segments:
            raw.append(to_raw_segment(s))
            if on_segment is not None:
                on_segment(float(s.end))
        return raw


class _Heard:
    """The "transcribe" progress of one file in seconds of audio: the end of the last segment
    decoded (within a window) or the end of the last window done, never going back."""

    def __init__(self, progress: ProgressReporter, limit: float | None) -> None:
        self.progress = progress
        self.limit = limit
        self.done = 0.0

    def report(self, seconds: float) -> None:
        if self.limit is not None:
            seconds = min(seconds, self.limit)
        if seconds > self.done:
            self.done = seconds
            self.progress.update("transcribe", seconds)

    def within(self, window_start: float, upto: float) -> Callable[[float], None]:
        """Reports of a window's segments (ends relative to it), up to `upto` (the audio after
        a window's guard is decoded again in the next window)."""
        return lambda end: self.report(min(window_start + end, upto))
