#!/usr/bin/env python3
"""Build the committed sample videos under samples/ (run once by developers; outputs committed).

    python scripts/build_samples.py            # builds both samples
    python scripts/build_samples.py librivox   # only samples/librivox_speech.*
    python scripts/build_samples.py talk       # only samples/three_topics_talk.*

Needs the Debian packages ffmpeg, espeak-ng and pocketsphinx-testdata (see `make system-deps`).
Audio is joined here sample-exactly (numpy + wave), so the chapter times written to
samples/three_topics_talk.chapters.json are exact; ffmpeg then only muxes the joined audio with a
still low-resolution video track.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")

VIDEO_SIZE = "320x180"
VIDEO_FPS = 1
AUDIO_BITRATE = "48k"

LIBRIVOX_GAP_SECONDS = 0.5
TALK_VOICE = "en-us"
TALK_WORDS_PER_MINUTE = 160
TALK_LEAD_SECONDS = 0.5  # silence before the first topic and after the last one
TALK_GAP_SECONDS = 1.0  # silence between two topics
SILENCE_THRESHOLD = 0.01  # |sample| below this (of full scale) counts as silence when trimming


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        sys.exit(f"{tool} is missing: install it (make system-deps)")
    return found


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono 16-bit PCM wav -> (float32 samples in [-1, 1], sample rate)."""
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data.astype(np.float32) / 32768.0, rate


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def trim_silence(samples: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples) >= SILENCE_THRESHOLD)
    if loud.size == 0:
        return samples[:0]
    return samples[loud[0] : loud[-1] + 1]


def mux_video(wav: Path, duration: float, out: Path) -> None:
    """Still colour frames (VIDEO_SIZE, VIDEO_FPS) + the wav as mono AAC, into an mp4."""
    subprocess.run(
        [
            _need("ffmpeg"),
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"color=c=0x1f3b57:s={VIDEO_SIZE}:r={VIDEO_FPS}:d={duration:.3f}",
            "-i",
            str(wav),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-tune",
            "stillimage",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            AUDIO_BITRATE,
            "-ac",
            "1",
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            "-flags:a",
            "+bitexact",
            "-movflags",
            "+faststart",
            str(out),
        ],
        check=True,
    )


def build_librivox(tmp: Path) -> None:
    """samples/librivox_speech.{mp4,txt}: the 5 LibriVox utterances, in fileids order."""
    fileids = (LIBRIVOX_DIR / "fileids").read_text().split()
    references: dict[str, str] = {}
    for line in (LIBRIVOX_DIR / "transcription").read_text().splitlines():
        match = re.fullmatch(r"\s*<s>\s*(.*?)\s*</s>\s*\((\S+)\)\s*", line)
        if match:
            references[match.group(2)] = match.group(1)

    parts: list[np.ndarray] = []
    rate = 0
    for i, fileid in enumerate(fileids):
        samples, rate = read_wav(LIBRIVOX_DIR / f"{fileid}.wav")
        if i:
            parts.append(np.zeros(round(LIBRIVOX_GAP_SECONDS * rate), dtype=np.float32))
        parts.append(samples)
    joined = np.concatenate(parts)
    wav = tmp / "librivox.wav"
    write_wav(wav, joined, rate)
    duration = joined.size / rate
    mux_video(wav, duration, SAMPLES / "librivox_speech.mp4")
    text = "\n".join(references[f] for f in fileids) + "\n"
    (SAMPLES / "librivox_speech.txt").write_text(text)
    print(f"librivox_speech.mp4: {duration:.3f} s, {len(fileids)} utterances")


def read_script(path: Path) -> list[tuple[str, str]]:
    """The talk script: [(heading, text under it)] for every `## ` heading."""
    topics: list[tuple[str, list[str]]] = []
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            topics.append((line[3:].strip(), []))
        elif topics and line.strip():
            topics[-1][1].append(line.strip())
    return [(title, " ".join(lines)) for title, lines in topics]


def narrate(text: str, out: Path) -> tuple[np.ndarray, int]:
    src = out.with_suffix(".txt")
    src.write_text(text)
    subprocess.run(
        [
            _need("espeak-ng"),
            "-v",
            TALK_VOICE,
            "-s",
            str(TALK_WORDS_PER_MINUTE),
            "-w",
            str(out),
            "-f",
            str(src),
        ],
        check=True,
    )
    return read_wav(out)


def build_talk(tmp: Path) -> None:
    """samples/three_topics_talk.{mp4,chapters.json} from samples/three_topics_talk.script.md."""
    topics = read_script(SAMPLES / "three_topics_talk.script.md")
    if len(topics) != 3:
        raise SystemExit(f"expected 3 topics in the script, found {len(topics)}")

    rate = 0
    parts: list[np.ndarray] = []
    chapters: list[dict[str, object]] = []
    position = 0  # in samples
    for i, (title, text) in enumerate(topics):
        samples, rate = narrate(text, tmp / f"topic{i}.wav")
        clip = trim_silence(samples)
        silence = np.zeros(
            round((TALK_LEAD_SECONDS if i == 0 else TALK_GAP_SECONDS) * rate), dtype=np.float32
        )
        parts += [silence, clip]
        start = position + silence.size
        position = start + clip.size
        chapters.append(
            {"title": title, "start": round(start / rate, 3), "end": round(position / rate, 3)}
        )
    parts.append(np.zeros(round(TALK_LEAD_SECONDS * rate), dtype=np.float32))
    joined = np.concatenate(parts)
    wav = tmp / "talk.wav"
    write_wav(wav, joined, rate)
    duration = joined.size / rate
    mux_video(wav, duration, SAMPLES / "three_topics_talk.mp4")
    (SAMPLES / "three_topics_talk.chapters.json").write_text(json.dumps(chapters, indent=2) + "\n")
    print(f"three_topics_talk.mp4: {duration:.3f} s, chapters: {chapters}")


def main(argv: list[str]) -> None:
    wanted = set(argv) or {"librivox", "talk"}
    SAMPLES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if "librivox" in wanted:
            build_librivox(Path(tmp))
        if "talk" in wanted:
            build_talk(Path(tmp))


if __name__ == "__main__":
    main(sys.argv[1:])
