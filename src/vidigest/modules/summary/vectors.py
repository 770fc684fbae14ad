"""Small vector helpers over sentence embeddings: unit length and maximal marginal relevance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def unit(v: F64) -> F64:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def rows_unit(m: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    n = np.linalg.norm(m, axis=-1, keepdims=True)
    return np.asarray(m / np.where(n > 0, n, 1.0))


def mmr(
    emb: F64,
    relevance: F64,
    candidates: Sequence[int],
    k: int,
    lam: float,
    selected: Sequence[int] = (),
) -> list[int]:
    """Maximal marginal relevance: up to k indices of `candidates`, best first."""
    chosen = list(selected)
    picked: list[int] = []
    pool = [c for c in candidates if c not in chosen]
    while pool and len(picked) < k:
        redundancy = (emb[pool] @ emb[chosen].T).max(axis=1) if chosen else np.zeros(len(pool))
        scores = lam * relevance[pool] - (1.0 - lam) * redundancy
        best = pool[int(np.argmax(scores))]
        picked.append(best)
        chosen.append(best)
        pool.remove(best)
    return picked
