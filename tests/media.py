"""Make real test media in a directory (usually pytest's tmp_path). No mocks: every file is encoded.

Speech comes from the Debian `espeak-ng` CLI; format conversion and muxing use the `ffmpeg` CLI
(both installed by `make system-deps`); the video without audio is encoded with PyAV.

    from tests.media import speech, video_without_audio, corrupt_random_mp4, ...

    wav = speech(tmp_path, "hello world", fmt="wav")
    m4a = speech(tmp_path, "hello world", fmt="m4a")
"""

from __future__ import annotations

import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

AudioFormat = Literal["wav", "mp3", "ogg", "flac", "m4a"]
AUDIO_FORMATS: tuple[AudioFormat, ...] = ("wav", "mp3", "ogg", "flac", "m4a")

# container name PyAV reports for each format (MediaInfo.container)
CONTAINER_NAMES: dict[AudioFormat, str] = {
    "wav": "wav",
    "mp3": "mp3",
    "ogg": "ogg",
    "flac": "flac",
    "m4a": "mov,mp4,m4a,3gp,3g2,mj2",
}
# audio codec PyAV reports for each format (MediaInfo.audio_codec)
CODEC_NAMES: dict[AudioFormat, str] = {
    "wav": "pcm_s16le",
    "mp3": "mp3float",
    "ogg": "vorbis",
    "flac": "flac",
    "m4a": "aac",
}

_ENCODE_ARGS: dict[AudioFormat, list[str]] = {
    "wav": ["-c:a", "pcm_s16le"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "3"],
    "flac": ["-c:a", "flac"],
    "m4a": ["-c:a", "aac", "-b:a", "64k"],
}

LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = REPO_ROOT / "samples"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run `make system-deps`")
    return found


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        [_tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
    )


def _unique(directory: Path, stem: str, suffix: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}{suffix}"
    n = 1
    while path.exists():
        path = directory / f"{stem}-{n}{suffix}"
        n += 1
    return path


def espeak_wav(
    directory: Path, text: str, *, voice: str = "en-us", words_per_minute: int = 160
) -> Path:
    """`text` spoken by espeak-ng: a mono 16-bit 22050 Hz wav."""
    out = _unique(directory, "espeak", ".wav")
    subprocess.run(
        [_tool("espeak-ng"), "-v", voice, "-s", str(words_per_minute), "-w", str(out), text],
        check=True,
    )
    return out


def convert(src: Path, fmt: AudioFormat, directory: Path | None = None) -> Path:
    """Re-encode the audio of `src` into `fmt` (mono)."""
    out = _unique(directory or src.parent, src.stem, f".{fmt}")
    _ffmpeg("-i", str(src), "-vn", "-ac", "1", *_ENCODE_ARGS[fmt], str(out))
    return out


def speech(directory: Path, text: str, fmt: AudioFormat = "wav", *, voice: str = "en-us") -> Path:
    """`text` spoken by espeak-ng, encoded as `fmt` (wav, mp3, ogg/vorbis, flac, m4a/aac)."""
    wav = espeak_wav(directory, text, voice=voice)
    if fmt == "wav":
        return wav
    return convert(wav, fmt, directory)


def with_title(src: Path, title: str, directory: Path | None = None) -> Path:
    """A copy of `src` (streams copied, not re-encoded) whose container title tag is `title`
    (an ID3v2 TIT2 frame for MP3)."""
    out = _unique(directory or src.parent, f"{src.stem}-titled", src.suffix)
    _ffmpeg("-i", str(src), "-map", "0", "-c", "copy", "-metadata", f"title={title}", str(out))
    return out


def tone(
    directory: Path,
    seconds: float,
    fmt: AudioFormat = "m4a",
    *,
    frequency: int = 440,
    sample_rate: int = 44_100,
    channels: int = 2,
) -> Path:
    """A sine tone of `seconds` (stereo 44.1 kHz by default, so decoding must downmix and
    resample): a cheap multi-minute input for the streaming tests."""
    out = _unique(directory, f"tone-{seconds:g}s", f".{fmt}")
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={frequency}:sample_rate={sample_rate}:duration={seconds}",
        "-ac",
        str(channels),
        *_ENCODE_ARGS[fmt],
        str(out),
    )
    return out


def silence(directory: Path, seconds: float, fmt: AudioFormat = "wav") -> Path:
    """Digital silence of `seconds`, 16 kHz mono."""
    out = _unique(directory, f"silence-{seconds:g}s", f".{fmt}")
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"anullsrc=r=16000:cl=mono:d={seconds}",
        *_ENCODE_ARGS[fmt],
        str(out),
    )
    return out


def video_without_audio(directory: Path, seconds: float = 2.0, *, fps: int = 10) -> Path:
    """An mp4 with one H.264 (or MPEG-4 part 2) video stream and no audio, encoded with PyAV."""
    out = _unique(directory, "video-no-audio", ".mp4")
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = 160
        stream.height = 96
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(max(1, round(seconds * fps))):
            image = np.zeros((96, 160, 3), dtype=np.uint8)
            image[:, :, 0] = (i * 7) % 256
            image[:, : (i * 3) % 160, 1] = 200
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out


def _seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration or 0) / av.time_base


def video_with_audio(
    directory: Path, audio: Path, *, size: str = "160x96", fps: int = 2, faststart: bool = True
) -> Path:
    """A still colour video track muxed with `audio` as mono AAC, in an mp4."""
    out = _unique(directory, f"{audio.stem}-video", ".mp4")
    color = f"color=c=navy:s={size}:r={fps}:d={_seconds(audio):.3f}"
    args = ["-f", "lavfi", "-i", color, "-i", str(audio)]
    args += ["-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-b:a", "48k", "-ac", "1"]
    if faststart:
        args += ["-movflags", "+faststart"]
    _ffmpeg(*args, str(out))
    return out


def two_audio_tracks(directory: Path, first: Path, second: Path) -> Path:
    """An mp4 with a video track and two AAC audio tracks: audio stream 0 from `first`,
    audio stream 1 from `second`."""
    out = _unique(directory, "two-tracks", ".mp4")
    seconds = max(_seconds(first), _seconds(second))
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"color=c=black:s=160x96:r=2:d={seconds:.3f}",
        "-i",
        str(first),
        "-i",
        str(second),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map",
        "2:a",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "48k",
        "-ac",
        "1",
        str(out),
    )
    return out


def corrupt_random_mp4(directory: Path, size: int = 64 * 1024, *, seed: int = 1234) -> Path:
    """Random bytes under a .mp4 name: no demuxer recognises it."""
    out = _unique(directory, "random-bytes", ".mp4")
    out.write_bytes(np.random.default_rng(seed).bytes(size))
    return out


def truncated_mp4(directory: Path, source: Path, *, keep: float = 0.5) -> Path:
    """The first `keep` fraction of the bytes of a real mp4.

    With the index (moov) at the front (faststart) the file still opens and fails mid-decode; with
    the index at the end, it cannot be opened at all.
    """
    out = _unique(directory, f"{source.stem}-truncated", ".mp4")
    data = source.read_bytes()
    out.write_bytes(data[: int(len(data) * keep)])
    return out


def moov_at_end(directory: Path, source: Path) -> Path:
    """A copy of an mp4 remuxed with its index (moov atom) at the end of the file."""
    out = _unique(directory, f"{source.stem}-moov-end", ".mp4")
    _ffmpeg("-i", str(source), "-map", "0", "-c", "copy", str(out))
    return out


def librivox_wavs() -> list[Path]:
    """The 5 real LibriVox utterances of pocketsphinx-testdata, in the order of its fileids."""
    ids = (LIBRIVOX_DIR / "fileids").read_text().split()
    return [LIBRIVOX_DIR / f"{i}.wav" for i in ids]


def sample(name: str) -> Path:
    """A committed file under samples/ (e.g. "librivox_speech.mp4")."""
    return SAMPLES_DIR / name


def rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc), in bytes."""
    with open(f"/proc/{os.getpid()}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")
