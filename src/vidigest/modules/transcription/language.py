"""Which language is spoken: Whisper's language probabilities averaged over several windows.

faster-whisper decides on the first 30 s of speech (or stops at the first window whose top
language passes a threshold). On short or synthetic speech that one window is a coin flip: the
espeak German clip of the tests was "de" 0.47 / "th" 0.26 with one set of CPU kernels and "th"
0.40 / "de" 0.27 with another. Here the speech (after the same VAD the transcription uses) is cut
into up to `windows` windows of 30 s, each gives a full probability distribution, and the
distributions are averaged, weighted by the seconds of speech in each: one odd window no longer
decides. With two windows of the same German voice both kernel families agree at 0.94.
A clip shorter than one window still gets one vote; its probability (kept with the transcript)
tells how sure it was, and `--language` settles it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vidigest.common.exceptions import UnsupportedLanguageError

Audio = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Detected:
    language: str
    probability: float  # the averaged probability of `language`
    windows: int  # how many windows of speech voted


def speech_only(audio: Audio) -> Audio:
    """The samples the transcription's VAD keeps (default VAD options), concatenated."""
    from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

    chunks = get_speech_timestamps(audio, VadOptions())
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    pieces, _ = collect_chunks(audio, chunks)
    return np.asarray(np.concatenate(pieces), dtype=np.float32)


def detect_language(model: Any, audio: Audio, *, windows: int = 3) -> Detected | None:
    """The language spoken in `audio` (16 kHz mono) by a multilingual faster-whisper model,
    or None when the VAD hears no speech."""
    from faster_whisper.audio import pad_or_trim

    speech = speech_only(audio)
    if not speech.size:
        return None
    extractor = model.feature_extractor
    size = int(extractor.n_samples)  # 30 s
    totals: dict[str, float] = {}
    weight = 0.0
    used = 0
    for begin in range(0, min(speech.size, windows * size), size):
        piece = speech[begin : begin + size]
        features = extractor(piece)[..., : extractor.nb_max_frames]
        encoded = model.encode(pad_or_trim(features))
        for token, probability in model.model.detect_language(encoded)[0]:
            code = token[2:-2]  # "<|de|>" -> "de"
            totals[code] = totals.get(code, 0.0) + piece.size * float(probability)
        weight += piece.size
        used += 1
    language = max(totals, key=lambda code: (totals[code], code))
    return Detected(language, totals[language] / weight, used)


def check_language(code: str) -> str:
    """`code` if Whisper knows it; a permanent UnsupportedLanguageError otherwise (retrying a
    request for language "xx" fails the same way every time)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES  # the codes Whisper was trained on

    if code not in _LANGUAGE_CODES:
        raise UnsupportedLanguageError(code, sorted(_LANGUAGE_CODES))
    return code
