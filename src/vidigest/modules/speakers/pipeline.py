"""Diarization as a step of transcription sees it: the engine behind a Protocol (the engine's
`speakers/diarize.py::Diarizer` fits it), the whole track decoded once more, the options
resolved, and what the completing transaction stores.

The engine is built in `app.py` (`ModelCache`) and handed to the step as `diarizer_for`, like the
transcriber; nothing here imports it, so this module (and the tests of the plumbing) need no
model weights.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from vidigest.common.speakers import SpeakerHints
from vidigest.common.types import ProgressReporter, Speaker, SpeakerTurn, Transcript
from vidigest.modules.speakers.assign import assign_speakers, talk_time
from vidigest.modules.transcription.audio import decode_audio

log = logging.getLogger(__name__)


class Diarization(Protocol):
    """What a diarizer finds (the engine's frozen dataclass `speakers.diarize.Diarization`)."""

    @property
    def turns(self) -> tuple[SpeakerTurn, ...]: ...  # sorted, labels by first appearance

    @property
    def centroids(self) -> Mapping[str, npt.NDArray[Any]]: ...  # label -> unit vector (192,)


class Diarizer(Protocol):
    def diarize(
        self,
        samples: npt.NDArray[np.float32],
        *,
        num_speakers: int | None = ...,
        min_speakers: int = ...,
        max_speakers: int = ...,
        progress: ProgressReporter | None = ...,
    ) -> Diarization: ...


@dataclass(frozen=True)
class SpeakerResult:
    """A diarization on its way to the completing transaction: the turns, each speaker's voice
    centroid, and the names matching voice profiles gave (label -> name)."""

    turns: tuple[SpeakerTurn, ...]
    centroids: Mapping[str, npt.NDArray[Any]]
    names: Mapping[str, str] = field(default_factory=dict)


def diarize_file(
    diarizer: Diarizer,
    path: str | Path,
    hints: SpeakerHints,
    *,
    stream_index: int = 0,
    max_seconds: float = 0.0,
    expected_seconds: float = 0.0,
    progress: ProgressReporter | None = None,
) -> SpeakerResult:
    """Decode the whole track again (16 kHz mono, the samples transcription heard, bounded by
    `max_seconds`) and diarize it with `hints`. Decoding runs at ~300x real time, so reading
    the file twice costs far less than keeping every window of a long file in memory during
    transcription."""
    log.info("speakers: diarizing %s (%.1f s)", Path(path).name, expected_seconds)
    samples = decode_audio(
        path, stream_index=stream_index, max_seconds=max_seconds, expected_seconds=expected_seconds
    )
    found = diarizer.diarize(
        samples,
        num_speakers=hints.num_speakers,
        min_speakers=hints.min_speakers,
        max_speakers=hints.max_speakers,
        progress=progress,
    )
    del samples
    log.info(
        "speakers: %d turns, %d speakers in %.1f s of audio",
        len(found.turns),
        len(found.centroids),
        expected_seconds,
    )
    return SpeakerResult(turns=tuple(found.turns), centroids=dict(found.centroids))


def with_speakers(transcript: Transcript, result: SpeakerResult) -> Transcript:
    """A transcript (not stored: `vidigest transcribe`) with the speakers of `result`."""
    if not result.turns:
        return transcript
    return transcript.model_copy(
        update={
            "segments": assign_speakers(transcript.segments, result.turns),
            "turns": result.turns,
            "speakers": tuple(
                Speaker(label=label, name=result.names.get(label), talk_time=seconds)
                for label, seconds in talk_time(result.turns).items()
            ),
        }
    )
