"""Word timestamps refined by CTC forced alignment (WhisperX's idea, without torch).

Whisper's word timestamps come from its cross-attention and are off by a few hundred
milliseconds (measured: bench/alignment.py); subtitles and speaker turns cut on them clip
words. Here each segment's words are aligned again against the audio with a phoneme CTC model:
the words become phonemes (a G2P model), the segment's audio (padded by PAD_SECONDS) becomes
per-frame phoneme log-probabilities (20 ms frames), and a Viterbi pass finds the best monotonic
path through blank-interleaved phonemes. hama's model emits a word-boundary token at each word's
onset: a word runs from that token's frame to the last frame its phonemes were emitted on.

Both models come from the pinned PyPI wheel ``hama==1.7.0`` (Apache-2.0; its only dependency is
numpy; a ctypes engine plus `.hama` weight files). Its English phoneme ASR and G2P are used;
the assets' sha256 are checked before they are loaded, like every model of vidigest.

Where it runs: `WhisperTranscriber.iter_windows`, in every window after Whisper and before the
window is stored (so before speakers are assigned to words), on the window's audio up to its
cut: `align_words(window_audio, window_segments, language, offset=window_start)`. It is
deterministic, so a resumed transcription aligns its windows as an uninterrupted one does. It
never raises for content: words it cannot align (numbers, symbols, text the G2P rejects) keep
Whisper's times, an unsupported language returns the segments unchanged, and no word leaves
its segment's padded span.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vidigest.common.checksums import installed_package_root, verify_sha256
from vidigest.common.exceptions import ModelError
from vidigest.common.types import Segment, Word

MODEL_PACKAGE = "hama"
MODEL_PACKAGE_VERSION = "1.7.0"
INSTALL_COMMAND = f"pip install {MODEL_PACKAGE}=={MODEL_PACKAGE_VERSION}"
# the files hama loads (package-relative path -> sha256)
ASSETS: dict[str, str] = {
    "hama/assets/asr_waveform.hama": (
        "a9fcfe73e179ca48e399cd76a90a6b3e1887bf5037ecc52b778d13a149563328"
    ),
    "hama/assets/encoder.hama": "ae527c1aa758cd1b038c63d4d768d05313adce7c50706c5366600ab4f4ef8d75",
    "hama/assets/decoder_step.hama": (
        "9ac34717f88b7bed2ef84a779b6fda1ec24b0b88d37bb813631493116581369d"
    ),
    "hama/assets/g2p_vocab.json": (
        "520d19e4e6ae58658eed53594e0feab8ea8e1b4b04a7746e25e50c16c29b91bf"
    ),
}
SAMPLE_RATE = 16000
FRAME_SECONDS = 0.02  # hama's ASR: 160-sample hop, subsampled by 2
# Whisper's segment bounds are themselves off by a few hundred ms: the audio window of a segment
# is widened by this much on each side, which is also how far a word may move out of it.
PAD_SECONDS = 0.3
# languages whose words hama's G2P and phoneme model cover (measured for English only)
SUPPORTED_LANGUAGES = frozenset({"en"})

F32 = npt.NDArray[np.float32]
_NEG = np.float32(-1e30)
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_STRIP = re.compile(r"^[^\w']+|[^\w']+$", re.UNICODE)


def asset_paths(root: Path | None = None) -> dict[str, Path]:
    """The hama assets (under `root`, default: the installed package), each verified against
    its pinned sha256. Raises ModelError naming the install command when hama is missing, is
    another version, or a file is missing or altered."""
    if root is None:
        root = installed_package_root(
            MODEL_PACKAGE, MODEL_PACKAGE_VERSION, "the word aligner", INSTALL_COMMAND
        )
    paths: dict[str, Path] = {}
    for rel, sha in ASSETS.items():
        path = root / rel
        if not path.is_file():
            raise ModelError(
                f"the {MODEL_PACKAGE} package is incomplete ({Path(rel).name} is missing): "
                f"reinstall it: {INSTALL_COMMAND}"
            )
        verify_sha256(path, sha)
        paths[rel] = path
    return paths


def _key(word: str) -> str | None:
    """The spoken form of a Whisper word for the G2P, or None when it cannot be aligned."""
    text = _STRIP.sub("", word.strip()).lower()
    if not text or any(ch.isdigit() for ch in text) or not _LETTERS.search(text):
        return None
    return text


class Aligner:
    """hama's phoneme CTC model and G2P, loaded once and shared (calls are serialised: the
    native engine's sessions are not documented as thread-safe)."""

    def __init__(self, root: Path | None = None) -> None:
        paths = asset_paths(root)
        from hama import ASRModel, G2PModel  # deferred: loads a native library

        vocab = paths["hama/assets/g2p_vocab.json"]
        try:
            self._asr: Any = ASRModel(
                model_path=paths["hama/assets/asr_waveform.hama"], vocab_path=vocab
            )
            self._g2p: Any = G2PModel(
                encoder_model_path=paths["hama/assets/encoder.hama"],
                decoder_step_model_path=paths["hama/assets/decoder_step.hama"],
                vocab_path=vocab,
            )
        except (RuntimeError, OSError) as exc:  # no native engine for this platform, ...
            raise ModelError(f"the word aligner's engine (hama) did not load: {exc}") from None
        tokens: list[str] = self._asr.decoder_tokens
        self._blank = tokens.index("<blank>")
        self._wb = tokens.index("<wb>")
        self._ids = {t: i for i, t in enumerate(tokens) if not t.startswith("<") and t.strip()}
        self._longest = max(len(t) for t in self._ids)
        self._lock = threading.Lock()
        self.phonemes = lru_cache(maxsize=65536)(self._phonemes)

    # --- text -> phoneme ids -------------------------------------------------------------------

    def _phonemes(self, key: str) -> tuple[int, ...] | None:
        """Phoneme ids of one normalised word (None: the G2P output has a symbol the acoustic
        model does not know). Hyphenated words are read part by part."""
        ids: list[int] = []
        for part in (p for p in re.split(r"[-\u2013\u2014/]+", key) if p):
            with self._lock:
                result = self._g2p.predict(part)
            ipa = str(result.ipa)
            units = ipa.split() if " " in ipa else [a.phoneme for a in result.alignments]
            for unit in units:
                mapped = self._map(unit)
                if mapped is None:
                    return None
                ids.extend(mapped)
        return tuple(ids) or None

    def _map(self, unit: str) -> list[int] | None:
        """A G2P phoneme -> acoustic-model tokens (longest match first)."""
        out: list[int] = []
        i = 0
        while i < len(unit):
            for n in range(min(self._longest, len(unit) - i), 0, -1):
                token = self._ids.get(unit[i : i + n])
                if token is not None:
                    out.append(token)
                    i += n
                    break
            else:
                if unit[i].isspace():
                    i += 1
                    continue
                return None
        return out

    # --- audio -> log-probs ---------------------------------------------------------------------

    def log_probs(self, samples: F32) -> F32:
        """(frames, tokens) log-probabilities of 16 kHz mono samples, 20 ms frames."""
        wav = np.clip(np.ascontiguousarray(samples, dtype=np.float32), -1.0, 1.0)
        with self._lock:
            out, lengths = self._asr.session.run(
                ["log_probs", "out_lengths"],
                {"waveform": wav[None, :], "waveform_lengths": np.array([wav.size], np.int64)},
            )
        n = int(np.asarray(lengths).reshape(-1)[0])
        return np.asarray(out[0, :n], dtype=np.float32)

    # --- alignment -------------------------------------------------------------------------------

    def align_segment(
        self, samples: F32, segment: Segment, lo: float, hi: float, offset: float = 0.0
    ) -> Segment:
        """One segment with its words aligned within [lo, hi] seconds (`samples[0]` is at
        `offset` seconds); see the module docstring."""
        words = segment.words
        if not words:
            return segment
        keys = [_key(w.text) for w in words]
        phones = [self.phonemes(k) if k is not None else None for k in keys]
        if not any(phones):
            return segment
        lo = max(lo, offset)
        hi = min(hi, offset + samples.size / SAMPLE_RATE)
        if hi - lo < 4 * FRAME_SECONDS:
            return segment
        a, b = round((lo - offset) * SAMPLE_RATE), round((hi - offset) * SAMPLE_RATE)
        emissions = self.log_probs(samples[a:b])
        # the token sequence: each word's phonemes, or one wildcard for a word that has none
        star = emissions.shape[1]
        scores = np.concatenate(
            [emissions, np.max(np.delete(emissions, self._blank, axis=1), axis=1, keepdims=True)],
            axis=1,
        )
        # hama's model was trained to emit a word-boundary token <wb> at each word's onset:
        # one precedes every word and counts as its start.
        labels: list[int] = []
        owner: list[int] = []
        for i, p in enumerate(phones):
            seq = (self._wb, *(p if p is not None else (star,)))
            labels.extend(seq)
            owner.extend([i] * len(seq))
        path = viterbi(scores, np.asarray(labels, dtype=np.int64), self._blank)
        if path is None:
            return segment
        spans = _word_frames(path, np.asarray(owner, dtype=np.int64), len(words))
        refined: list[Word] = []
        for i, w in enumerate(words):
            span = spans[i]
            if phones[i] is None or span is None:
                refined.append(w)
                continue
            start = lo + span[0] * FRAME_SECONDS
            end = min(hi, lo + span[1] * FRAME_SECONDS)
            refined.append(w.model_copy(update={"start": round(start, 3), "end": round(end, 3)}))
        _keep_order(refined)
        return segment.model_copy(
            update={
                "words": tuple(refined),
                "start": min(segment.start, refined[0].start),
                "end": max(segment.end, refined[-1].end),
            }
        )


def viterbi(scores: F32, labels: npt.NDArray[np.int64], blank: int) -> npt.NDArray[np.int64] | None:
    """CTC forced alignment: the label index (into `labels`) emitted at each frame, -1 for blank.

    States are the labels interleaved with blanks (2L+1); each frame's update is vectorised over
    all states (stay, advance by one, or skip a blank between two different labels), so the
    Python loop is over frames only. Backpointers are int8 offsets. None when the audio has
    fewer frames than the labels need."""
    n_frames = scores.shape[0]
    n_labels = labels.size
    n_states = 2 * n_labels + 1
    states = np.full(n_states, blank, dtype=np.int64)
    states[1::2] = labels
    # repeats need a blank in between: the minimum number of frames
    repeats = int(np.count_nonzero(labels[1:] == labels[:-1])) if n_labels > 1 else 0
    if n_frames < n_labels + repeats or n_labels == 0:
        return None
    emit = scores[:, states]  # (frames, states)
    can_skip = np.zeros(n_states, dtype=bool)
    can_skip[3::2] = labels[1:] != labels[:-1]
    back = np.zeros((n_frames, n_states), dtype=np.int8)
    score = np.full(n_states, _NEG, dtype=np.float32)
    score[0] = emit[0, 0]
    score[1] = emit[0, 1]
    shifted1 = np.empty_like(score)
    shifted2 = np.empty_like(score)
    for t in range(1, n_frames):
        shifted1[0] = _NEG
        shifted1[1:] = score[:-1]
        shifted2[:2] = _NEG
        shifted2[2:] = score[:-2]
        shifted2[~can_skip] = _NEG
        best = score.copy()
        step = np.zeros(n_states, dtype=np.int8)
        better = shifted1 > best
        best[better] = shifted1[better]
        step[better] = 1
        better = shifted2 > best
        best[better] = shifted2[better]
        step[better] = 2
        back[t] = step
        score = best + emit[t]
    # end in the last label or the final blank
    s = n_states - 1 if score[-1] >= score[-2] else n_states - 2
    if score[s] <= _NEG / 2:
        return None
    path = np.empty(n_frames, dtype=np.int64)
    for t in range(n_frames - 1, -1, -1):
        path[t] = s
        s -= int(back[t, s])
    return np.where(path % 2 == 1, (path - 1) // 2, -1)


def _word_frames(
    path: npt.NDArray[np.int64], owner: npt.NDArray[np.int64], n_words: int
) -> list[tuple[int, int] | None]:
    """(first frame, end frame) each word's labels occupy on the path."""
    spans: list[tuple[int, int] | None] = [None] * n_words
    frames = np.nonzero(path >= 0)[0]
    if frames.size == 0:
        return spans
    word_of = owner[path[frames]]
    cuts = np.nonzero(np.diff(word_of))[0] + 1
    for chunk in np.split(np.arange(frames.size), cuts):
        w = int(word_of[chunk[0]])
        spans[w] = (int(frames[chunk[0]]), int(frames[chunk[-1]]) + 1)
    return spans


def _keep_order(words: list[Word]) -> None:
    """Words that kept Whisper's times are fitted between their aligned neighbours, so that
    word times never go backwards."""
    for i, w in enumerate(words):
        lo = words[i - 1].end if i else w.start
        hi = words[i + 1].start if i + 1 < len(words) else w.end
        if w.start < lo or w.end > hi:
            start = min(max(w.start, lo), hi)
            end = max(min(w.end, hi), start)
            words[i] = w.model_copy(update={"start": start, "end": end})


_default: Aligner | None = None
_default_lock = threading.Lock()


def default_aligner() -> Aligner:
    """The process-wide aligner (models loaded and verified on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Aligner()
        return _default


def supports(language: str) -> bool:
    return language.lower().split("-")[0] in SUPPORTED_LANGUAGES


def _bounds(segment: Segment) -> tuple[float, float]:
    if not segment.words:
        return segment.start, segment.end
    return min(segment.start, segment.words[0].start), max(segment.end, segment.words[-1].end)


def align_words(
    samples: F32,
    segments: Sequence[Segment],
    language: str,
    aligner: Aligner | None = None,
    *,
    offset: float = 0.0,
) -> tuple[Segment, ...]:
    """`segments` with word times refined against `samples` (16 kHz mono float32; `samples[0]`
    is at `offset` seconds of the segments' time line, e.g. a window's start).

    Each segment is aligned within its span widened by PAD_SECONDS on each side, but never
    past its neighbours' spans: a word cannot move into another segment, and a segment only
    grows to cover its words, so segments stay in order. Unsupported language: the segments
    unchanged, and no model is loaded."""
    if not supports(language) or not segments:
        return tuple(segments)
    engine = aligner or default_aligner()
    samples = np.asarray(samples, dtype=np.float32)
    spans = [_bounds(s) for s in segments]
    out: list[Segment] = []
    for i, segment in enumerate(segments):
        start, end = spans[i]
        lo, hi = start - PAD_SECONDS, end + PAD_SECONDS
        if i:
            lo = min(start, max(lo, spans[i - 1][1]))
        if i + 1 < len(spans):
            hi = max(end, min(hi, spans[i + 1][0]))
        out.append(engine.align_segment(samples, segment, lo, hi, offset))
    return tuple(out)
