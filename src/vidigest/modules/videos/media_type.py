"""The Content-Type of a stored media file, from what PyAV finds in it, never from its name.

The name is the client's: `report.html` holding valid MP3 frames (and `<script>` in its ID3
title) would be served as `text/html` on the API's origin if the name chose. The demuxer that
opens the file chooses instead: a known audio/video container gives `audio/*` or `video/*`
(served inline for the player); anything else gives None (the caller answers
`application/octet-stream` as an attachment).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import IO

import av
import av.stream

# PyAV demuxer name -> type; containers that hold only audio (a "video" stream in them is a
# cover picture)
_AUDIO_CONTAINERS: dict[str, str] = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "aac": "audio/aac",
    "aiff": "audio/aiff",
    "amr": "audio/amr",
}
# containers that hold audio or video -> (type without moving video, type with it)
_AV_CONTAINERS: dict[str, tuple[str, str]] = {
    "mov,mp4,m4a,3gp,3g2,mj2": ("audio/mp4", "video/mp4"),
    "matroska,webm": ("audio/webm", "video/webm"),
    "ogg": ("audio/ogg", "video/ogg"),
    "mpeg": ("audio/mpeg", "video/mpeg"),
    "mpegts": ("video/mp2t", "video/mp2t"),
    "avi": ("video/x-msvideo", "video/x-msvideo"),
    "flv": ("video/x-flv", "video/x-flv"),
    "asf": ("audio/x-ms-wma", "video/x-ms-asf"),
}


def _has_moving_video(container: av.container.InputContainer) -> bool:
    """A video stream that is not just cover art (MP3 and M4A carry pictures as streams)."""
    return any(
        not (stream.disposition & av.stream.Disposition.attached_pic)
        for stream in container.streams.video
    )


@lru_cache(maxsize=256)
def _probe(path: str, _inode: int, _size: int, _mtime_ns: int) -> str | None:
    return _probe_source(path)


def _probe_source(source: str | IO[bytes]) -> str | None:
    try:
        with av.open(source, mode="r") as container:
            name = str(container.format.name)
            if not container.streams.audio and not _has_moving_video(container):
                return None
            if name in _AUDIO_CONTAINERS:
                return _AUDIO_CONTAINERS[name]
            if name in _AV_CONTAINERS:
                without_video, with_video = _AV_CONTAINERS[name]
                return with_video if _has_moving_video(container) else without_video
            return None
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        return None


def playable_media_type(path: Path) -> str | None:
    """`audio/...` or `video/...` for a media container PyAV opens, else None. Cached per
    file version (inode, size, mtime): a player's Range requests do not re-probe."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _probe(str(path), st.st_ino, st.st_size, st.st_mtime_ns)


_stored_types: dict[tuple[str, int], str | None] = {}
_stored_lock = threading.Lock()


def stored_media_type(ref: str, size: int, opener: Callable[[str], IO[bytes]]) -> str | None:
    """`playable_media_type` of a file in an object store, probed through a ranged reader
    (`opener`), remembered per (reference, size): a stored object never changes."""
    key = (ref, size)
    with _stored_lock:
        if key in _stored_types:
            return _stored_types[key]
    with opener(ref) as reader:
        found = _probe_source(reader)
    with _stored_lock:
        if len(_stored_types) >= 256:
            _stored_types.clear()
        _stored_types[key] = found
    return found
