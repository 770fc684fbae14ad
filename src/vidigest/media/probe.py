"""Probe media with PyAV: duration, streams, audio codec, read from the container header.

Shared by the features that look at a media file: videos (an upload or download is probed
before it is registered) and transcription (the duration decides whether a transcription can
resume; `transcription/audio.py` opens files the same way). It knows no feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import av

from vidigest.common.exceptions import (
    CorruptMediaError,
    MediaNotFoundError,
    MediaTooLongError,
    NoAudioStreamError,
)


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    duration: float  # seconds; 0.0 when neither the container nor any stream declares it
    container: str  # demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "wav", "ogg"
    audio_streams: int
    video_streams: int
    audio_codec: str | None  # codec of the first audio stream, e.g. "aac"


def decoder_reason(error: BaseException) -> str:
    """The decoder's / demuxer's own words, without errno or file name."""
    strerror = getattr(error, "strerror", None)
    return str(strerror) if strerror else str(error)


def media_file(path: str | Path) -> Path:
    """`path` if it is a regular file; else MediaNotFoundError."""
    p = Path(path)
    if not p.is_file():  # missing, a directory, a dangling link
        raise MediaNotFoundError(p.name, str(p))
    return p


def open_container(p: Path) -> Any:
    """The PyAV container of `p`; CorruptMediaError (with the demuxer's reason) if it cannot be
    opened."""
    try:
        return av.open(str(p), mode="r")
    except av.FFmpegError as error:
        raise CorruptMediaError(p.name, decoder_reason(error), str(p)) from error
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise CorruptMediaError(p.name, decoder_reason(error), str(p)) from error


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


def probe_media(path: str | Path | IO[bytes], name: str | None = None) -> MediaInfo:
    """Read the container header: duration, streams, audio codec. `path` may be a seekable
    binary reader (a file in an object store, read by ranges), named `name` in errors.

    Raises MediaNotFoundError (missing path or not a regular file), CorruptMediaError (PyAV cannot
    open it) or NoAudioStreamError (it opens, but carries no audio).
    """
    if isinstance(path, str | Path):
        p = media_file(path)
        container = open_container(p)
    else:
        p = Path(name or "media")
        try:
            container = av.open(path, mode="r")
        except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as error:
            raise CorruptMediaError(p.name, decoder_reason(error)) from error
    with container:
        audio = container.streams.audio
        if len(audio) == 0:
            raise NoAudioStreamError(p.name, str(p))
        return MediaInfo(
            path=p,
            duration=_duration(container),
            container=str(container.format.name),
            audio_streams=len(audio),
            video_streams=len(container.streams.video),
            audio_codec=audio[0].codec_context.name,
        )


def check_duration(info: MediaInfo, max_seconds: float) -> MediaInfo:
    """`info` if the duration the file declares is within `max_seconds` (0: no limit); else
    MediaTooLongError. A file that declares no duration (0.0) passes here: `iter_audio` then
    stops once the audio it decodes passes the limit."""
    if max_seconds > 0 and info.duration > max_seconds:
        raise MediaTooLongError(info.duration, max_seconds, declared=True)
    return info
