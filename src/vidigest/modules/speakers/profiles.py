"""Voice profiles: name a diarized speaker when its voice matches a saved one.

A profile is a name and an L2-normalised CAM++ centroid (diarize.Diarization.centroids), never
audio. A recording's speakers are matched to profiles by cosine similarity, greedily best pair
first, each profile and each speaker used at most once, and only at or above the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_MATCH_THRESHOLD = 0.6


def _unit(x: np.ndarray) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64).reshape(-1)
    norm = float(np.linalg.norm(v))
    if norm == 0 or not np.isfinite(norm):
        raise ValueError("a voice embedding must be a non-zero finite vector")
    return v / norm


def match_profiles(
    centroids: dict[str, np.ndarray],
    profiles: Sequence[tuple[str, np.ndarray]],
    threshold: float = DEFAULT_MATCH_THRESHOLD,
) -> dict[str, str]:
    """label -> profile name for the speakers whose voice matches a profile.

    Pairs are taken best cosine first; a profile names at most one speaker of the recording and
    a speaker gets at most one name. Pairs below `threshold` never match.
    """
    if not centroids or not profiles:
        return {}
    labels = list(centroids)
    a = np.stack([_unit(centroids[label]) for label in labels])
    b = np.stack([_unit(vector) for _, vector in profiles])
    if a.shape[1] != b.shape[1]:
        raise ValueError("voice profiles and speaker centroids have different dimensions")
    sim = a @ b.T
    pairs = sorted(
        ((float(sim[i, j]), i, j) for i in range(len(labels)) for j in range(len(profiles))),
        key=lambda p: (-p[0], p[1], p[2]),
    )
    out: dict[str, str] = {}
    used: set[int] = set()
    for score, i, j in pairs:
        if score < threshold:
            break
        if labels[i] in out or j in used:
            continue
        out[labels[i]] = profiles[j][0]
        used.add(j)
    return out
