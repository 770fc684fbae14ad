"""Word error rate as speech-recognition papers report it: Whisper's English normalizer
("Mr." -> "mister", numbers, punctuation, spelling variants), then jiwer."""

from __future__ import annotations

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

_normalize = EnglishTextNormalizer()


def normalize(text: str) -> str:
    return " ".join(_normalize(text).split())


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalize(reference), normalize(hypothesis)))
