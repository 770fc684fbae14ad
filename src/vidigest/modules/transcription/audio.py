"""Stream media's audio as 16 kHz mono float32, with PyAV (no ffmpeg process). Probing a file
(duration, streams) is shared with the videos feature: `vidigest/media/probe.py`.

Nothing here holds a whole file in memory: `iter_audio` demuxes packet by packet, resamples frame
by frame and yields fixed-size chunks.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from vidigest.common.exceptions import (
    CorruptMediaError,
    MediaError,
    MediaTooLongError,
    NoAudioStreamError,
)
from vidigest.media.probe import decoder_reason, media_file, open_container

SAMPLE_RATE = 16_000

# Containers whose audio duration comes from an index written after encoding (not estimated from a
# bitrate, not a placeholder of a streamed header): decoding much less than it means the file was
# cut short. PyAV stops quietly at the end of a truncated mp4 whose index is at the front.
_INDEXED_CONTAINERS = ("mov", "mp4", "matroska", "flac")
_TRUNCATION_TOLERANCE_SECONDS = 1.0
_TRUNCATION_TOLERANCE_RATIO = 0.05

AudioChunk = npt.NDArray[np.float32]


def _declared_audio_seconds(container: Any, stream: Any) -> float | None:
    name = str(container.format.name)
    if not any(part in name.split(",") for part in _INDEXED_CONTAINERS):
        return None
    if stream.duration is None or stream.time_base is None or stream.duration <= 0:
        return None
    return float(stream.duration * stream.time_base)


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
            samples = (frame if isinstance(frame, np.ndarray) else frame.to_ndarray()).reshape(-1)
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


_PREROLL_SECONDS = 1.0  # resampled (and dropped) before the requested start
# Codecs whose packets decode independently of the ones before: seeking gives the same samples
# as decoding from the start. Others (AAC with its noise-substitution generator, MP3's bit
# reservoir, Vorbis, Opus) carry decoder state from packet to packet, so a resume decodes them
# from the start (fast: demuxing and decoding run at ~300x real time) and drops what precedes it.
_SEEKABLE_CODECS = ("pcm_", "flac")


def _seek(container: Any, stream: Any, start_at: float) -> int | None:
    """Seek to a packet at or before `start_at - 2 * _PREROLL_SECONDS` when the codec allows an
    exact seek and return the stream's first timestamp; else (or if the demuxer cannot seek)
    decode from the start and return None (the first frame's timestamp is the origin)."""
    target = max(0.0, start_at - 2 * _PREROLL_SECONDS)
    codec = str(stream.codec_context.name)
    if target <= 0 or stream.time_base is None or not codec.startswith(_SEEKABLE_CODECS):
        return None
    origin = int(stream.start_time or 0)
    try:
        container.seek(origin + int(target / stream.time_base), stream=stream, backward=True)
    except av.FFmpegError:
        container.seek(origin, stream=stream, backward=True)
    return origin


class _Skipper:
    """Drops the audio that lies before `start_at`, so that what is kept is sample for sample what
    decoding from the start would give.

    A frame's position is counted in samples when decoding from the start, or taken from its
    timestamp after a seek. Frames that end before the pre-roll (`start_at - _PREROLL_SECONDS`)
    are decoded but not resampled. The first frame resampled loses its leading input samples up
    to a position where the input and output sample grids meet (every 441 input samples for
    22.05 kHz, every 3 for 48 kHz), so the resampler's output samples fall at the same instants
    as in a decode from the start; its start-up transient lies in the pre-roll. Resampled samples
    are then counted and those before `start_at` dropped.
    """

    def __init__(
        self, start_at: float, sample_rate: int, time_base: Any, origin: int | None = None
    ) -> None:
        self.origin = origin  # pts of the first sample after a seek; None: decoding from 0
        self.decoded = 0  # input samples decoded (from the start)
        self.start = round(start_at * sample_rate)
        self.preroll = max(0.0, start_at - _PREROLL_SECONDS)
        self.sample_rate = sample_rate
        self.time_base = time_base
        self.position: int | None = None if self.start > 0 else 0  # of the next output sample

    def align(self, frame: Any) -> Any | None:
        """The frame, or the part of it from the first grid-aligned sample (None: drop it all)."""
        if self.position is not None:
            return frame
        rate = int(frame.sample_rate)
        if self.origin is None:  # decoding from the start: count the samples
            index = self.decoded
            self.decoded += frame.samples
        elif frame.pts is None or self.time_base is None:
            self.position = 0  # cannot place it: keep everything
            return frame
        else:  # after a seek
            index = round(float((frame.pts - self.origin) * self.time_base) * rate)
        if (index + frame.samples) / rate < self.preroll:
            return None  # decoded only to keep the decoder's state
        pts = frame.pts
        period = rate // math.gcd(rate, self.sample_rate)
        drop = (-index) % period
        if drop >= frame.samples:
            return None
        self.position = (index + drop) * self.sample_rate // rate
        if drop == 0:
            return frame
        array = frame.to_ndarray()
        planar = frame.format.is_planar
        channels = len(frame.layout.channels)
        kept = array[:, drop:] if planar else array[:, drop * channels :]
        out = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(kept), format=frame.format.name, layout=frame.layout.name
        )
        out.sample_rate = rate
        if pts is not None and self.time_base is not None:
            out.pts = pts + round(drop / rate / self.time_base)
            out.time_base = self.time_base
        return out

    def __call__(self, resampled: list[Any]) -> list[Any]:
        if self.position is None or self.position >= self.start:
            return resampled
        kept: list[Any] = []
        for out in resampled:
            samples = out.to_ndarray().reshape(-1)
            drop = min(samples.size, self.start - self.position)
            self.position += samples.size
            if drop < samples.size:
                kept.append(samples[drop:])
        return kept


def iter_audio(
    path: str | Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    stream_index: int = 0,
    chunk_seconds: float = 30.0,
    start_at: float = 0.0,
    max_seconds: float = 0.0,
) -> Generator[AudioChunk, None, None]:
    """Decode audio stream `stream_index` (among the audio streams) to mono float32 at
    `sample_rate`, yielding chunks of exactly round(chunk_seconds * sample_rate) samples (the last
    one shorter, never empty).

    `start_at` (seconds) skips the audio before it, and what follows is sample for sample what
    decoding from the start gives: PCM and FLAC are seeked to a little before it; other codecs
    (whose decoders carry state) are decoded from the start with nothing resampled before the
    pre-roll. See `_Skipper`.

    `max_seconds` (0: no limit) stops decoding with MediaTooLongError as soon as the audio passes
    it, whatever the header declared: a file that declares no duration, or less than it holds,
    cannot keep a worker busy for longer than the limit allows.

    Only one chunk plus one decoded frame is held at a time. Errors of the demuxer or the decoder,
    at open or mid-stream, raise CorruptMediaError with their reason; so does a file of an indexed
    container (mp4/mov, matroska, flac) that ends well before the audio duration it declares
    (a cut-off upload), after the audio it does hold has been yielded.
    """
    if sample_rate <= 0 or chunk_seconds <= 0 or start_at < 0:
        raise ValueError("sample_rate and chunk_seconds must be positive, start_at not negative")
    chunk_size = max(1, round(chunk_seconds * sample_rate))
    # samples past start_at the limit allows (None: no limit)
    max_samples = round(max(0.0, max_seconds - start_at) * sample_rate) if max_seconds > 0 else None
    p = media_file(path)
    container = open_container(p)
    with container:
        audio = container.streams.audio
        if len(audio) == 0:
            raise NoAudioStreamError(p.name, str(p))
        if not 0 <= stream_index < len(audio):
            raise MediaError(
                f"audio stream {stream_index} not found in {p.name}: "
                f"it has {len(audio)} audio stream(s)"
            )
        stream = audio[stream_index]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)

        declared = _declared_audio_seconds(container, stream)
        chunker = _Chunker(chunk_size)
        try:
            origin = _seek(container, stream, start_at) if start_at > 0 else None
            skip = _Skipper(start_at, sample_rate, stream.time_base, origin)
            for packet in container.demux(stream):
                for frame in packet.decode():
                    aligned = skip.align(frame)
                    if aligned is not None:
                        yield from chunker.push(skip(resampler.resample(aligned)))
                    if max_samples is not None and chunker.total > max_samples:
                        raise MediaTooLongError(
                            start_at + chunker.total / sample_rate, max_seconds, declared=False
                        )
            yield from chunker.push(skip(resampler.resample(None)))  # flush the resampler
        except av.FFmpegError as error:
            raise CorruptMediaError(p.name, decoder_reason(error), str(p)) from error
        yield from chunker.rest()
        if declared is not None:
            seconds = start_at + chunker.total / sample_rate
            missing = declared - seconds
            if missing > max(_TRUNCATION_TOLERANCE_SECONDS, _TRUNCATION_TOLERANCE_RATIO * declared):
                raise CorruptMediaError(
                    p.name,
                    f"file is truncated: decoded {seconds:.1f} s of the {declared:.1f} s "
                    "of audio it declares",
                    str(p),
                )


def decode_audio(
    path: str | Path,
    *,
    stream_index: int = 0,
    max_seconds: float = 0.0,
    expected_seconds: float = 0.0,
) -> AudioChunk:
    """The whole audio stream as one 16 kHz mono float32 array: what speaker diarization needs
    (it compares every stretch of speech with every other). `iter_audio` decodes it, so the
    samples are the ones transcription heard, and `max_seconds` bounds it the same way
    (MediaTooLongError past it): memory is 64 kB per second of audio (230 MB per hour).

    `expected_seconds` (the probed duration, 0: unknown) sizes the buffer up front, so a file
    whose header tells its length is decoded without copying the samples again.
    """
    size = max(SAMPLE_RATE, round(expected_seconds * SAMPLE_RATE) + SAMPLE_RATE)
    buffer: AudioChunk = np.empty(size, dtype=np.float32)
    filled = 0
    for chunk in iter_audio(path, stream_index=stream_index, max_seconds=max_seconds):
        if filled + chunk.size > buffer.size:
            grown = np.empty(max(filled + chunk.size, buffer.size * 3 // 2), dtype=np.float32)
            grown[:filled] = buffer[:filled]
            buffer = grown
        buffer[filled : filled + chunk.size] = chunk
        filled += chunk.size
    if filled < buffer.size // 2:  # much shorter than declared: do not keep the rest
        return buffer[:filled].copy()
    return buffer[:filled]
