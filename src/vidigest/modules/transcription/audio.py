"""Probe media and stream its audio as 16 kHz mono float32, with PyAV (no ffmpeg process).

Nothing here holds a whole file in memory: `iter_audio` demuxes packet by packet, resamples frame
by frame and yields fixed-size chunks.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from vidigest.common.exceptions import (
    CorruptMediaError,
    MediaError,
    MediaNotFoundError,
    NoAudioStreamError,
)

SAMPLE_RATE = 16_000

# Containers whose audio duration comes from an index written after encoding (not estimated from a
# bitrate, not a placeholder of a streamed header): decoding much less than it means the file was
# cut short. PyAV stops quietly at the end of a truncated mp4 whose index is at the front.
_INDEXED_CONTAINERS = ("mov", "mp4", "matroska", "flac")
_TRUNCATION_TOLERANCE_SECONDS = 1.0
_TRUNCATION_TOLERANCE_RATIO = 0.05

AudioChunk = npt.NDArray[np.float32]


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    duration: float  # seconds; 0.0 when neither the container nor any stream declares it
    container: str  # demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "wav", "ogg"
    audio_streams: int
    video_streams: int
    audio_codec: str | None  # codec of the first audio stream, e.g. "aac"


def _reason(error: BaseException) -> str:
    """The decoder's / demuxer's own words, without errno or file name."""
    strerror = getattr(error, "strerror", None)
    return str(strerror) if strerror else str(error)


def _check_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():  # missing, a directory, a dangling link
        raise MediaNotFoundError(str(p))
    return p


def _open(p: Path) -> Any:
    try:
        return av.open(str(p), mode="r")
    except av.FFmpegError as error:
        raise CorruptMediaError(str(p), _reason(error)) from error
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise CorruptMediaError(str(p), _reason(error)) from error


def _duration(container: Any) -> float:
    """Container duration; else the longest stream duration * time_base; else 0.0.

    Decoding the file to measure it would cost seconds on long inputs, so a file that declares no
    duration anywhere (some raw streams) reports 0.0: callers treat 0.0 as "unknown" and use the
    length of the audio they decoded instead.
    """
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    best = 0.0
    for stream in container.streams:
        if stream.duration is not None and stream.time_base is not None:
            best = max(best, float(stream.duration * stream.time_base))
    return best


def _declared_audio_seconds(container: Any, stream: Any) -> float | None:
    name = str(container.format.name)
    if not any(part in name.split(",") for part in _INDEXED_CONTAINERS):
        return None
    if stream.duration is None or stream.time_base is None or stream.duration <= 0:
        return None
    return float(stream.duration * stream.time_base)


def probe_media(path: str | Path) -> MediaInfo:
    """Read the container header: duration, streams, audio codec.

    Raises MediaNotFoundError (missing path or not a regular file), CorruptMediaError (PyAV cannot
    open it) or NoAudioStreamError (it opens, but carries no audio).
    """
    p = _check_path(path)
    container = _open(p)
    with container:
        audio = container.streams.audio
        if len(audio) == 0:
            raise NoAudioStreamError(str(p))
        return MediaInfo(
            path=p,
            duration=_duration(container),
            container=str(container.format.name),
            audio_streams=len(audio),
            video_streams=len(container.streams.video),
            audio_codec=audio[0].codec_context.name,
        )


class _Chunker:
    """Copies resampled frames into a preallocated buffer and hands it out when it holds exactly
    `size` samples: at most the chunk being filled plus the one the caller holds are alive."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.total = 0  # samples received
        self._buffer: AudioChunk = np.empty(size, dtype=np.float32)
        self._filled = 0

    def push(self, frames: list[Any]) -> Iterator[AudioChunk]:
        for frame in frames:
            samples = frame.to_ndarray().reshape(-1)
            self.total += samples.size
            while samples.size:
                n = min(self.size - self._filled, samples.size)
                self._buffer[self._filled : self._filled + n] = samples[:n]
                self._filled += n
                samples = samples[n:]
                if self._filled == self.size:
                    full = self._buffer
                    self._buffer = np.empty(self.size, dtype=np.float32)
                    self._filled = 0
                    yield full

    def rest(self) -> Iterator[AudioChunk]:
        if self._filled:
            yield self._buffer[: self._filled].copy()
            self._filled = 0


def iter_audio(
    path: str | Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    stream_index: int = 0,
    chunk_seconds: float = 30.0,
) -> Generator[AudioChunk, None, None]:
    """Decode audio stream `stream_index` (among the audio streams) to mono float32 at
    `sample_rate`, yielding chunks of exactly round(chunk_seconds * sample_rate) samples (the last
    one shorter, never empty).

    Only one chunk plus one decoded frame is held at a time. Errors of the demuxer or the decoder,
    at open or mid-stream, raise CorruptMediaError with their reason; so does a file of an indexed
    container (mp4/mov, matroska, flac) that ends well before the audio duration it declares
    (a cut-off upload), after the audio it does hold has been yielded.
    """
    if sample_rate <= 0 or chunk_seconds <= 0:
        raise ValueError("sample_rate and chunk_seconds must be positive")
    chunk_size = max(1, round(chunk_seconds * sample_rate))
    p = _check_path(path)
    container = _open(p)
    with container:
        audio = container.streams.audio
        if len(audio) == 0:
            raise NoAudioStreamError(str(p))
        if not 0 <= stream_index < len(audio):
            raise MediaError(
                f"audio stream {stream_index} not found in {p}: it has {len(audio)} audio stream(s)"
            )
        stream = audio[stream_index]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)

        declared = _declared_audio_seconds(container, stream)
        chunker = _Chunker(chunk_size)
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    yield from chunker.push(resampler.resample(frame))
            yield from chunker.push(resampler.resample(None))  # flush the resampler
        except av.FFmpegError as error:
            raise CorruptMediaError(str(p), _reason(error)) from error
        yield from chunker.rest()
        if declared is not None:
            seconds = chunker.total / sample_rate
            missing = declared - seconds
            if missing > max(_TRUNCATION_TOLERANCE_SECONDS, _TRUNCATION_TOLERANCE_RATIO * declared):
                raise CorruptMediaError(
                    str(p),
                    f"file is truncated: decoded {seconds:.1f} s of the {declared:.1f} s "
                    "of audio it declares",
                )
