"""Speaker count and labels from window embeddings: spectral clustering with an eigengap.

The method is 3D-Speaker's (the CAM++ authors' diarization recipe), on numpy alone:

1. cosine affinity between all windows (the embeddings are L2-normalised);
2. pruning: each row keeps only its strongest `pval` share of entries (at least MIN_NEIGHBOURS),
   then the matrix is symmetrised, so windows of one voice link to each other and weak
   cross-speaker similarities vanish;
3. the Laplacian L = D - A; its smallest eigenvalues are near zero, one per well-separated
   group of windows; the speaker count is where the gap between consecutive eigenvalues is
   largest (within the hints);
4. k-means (k-means++ seeding, several restarts, a fixed seed: same input, same labels) on the
   rows of the k first eigenvectors;
5. clusters whose centroids are still very similar (cosine > MERGE_COSINE) are merged, as long as
   the hints allow: spectral clustering over-splits one voice heard in two acoustic settings.

Too few windows for a spectral estimate (< MIN_SPECTRAL) are grouped by average-linkage
agglomeration with a cosine threshold instead. Long recordings: the affinity matrix and its
eigendecomposition grow with the square and cube of the window count (a 2-hour video has ~9,600
windows: a 740 MB matrix), so beyond MAX_SPECTRAL windows an evenly spaced subset is clustered and
every window then takes the label of the nearest cluster centroid.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PVAL = 0.022  # 3D-Speaker's default share of neighbours kept per row
MIN_NEIGHBOURS = 6
MIN_SPECTRAL = 20  # fewer windows than this: agglomerative clustering
MAX_SPECTRAL = 2000  # more windows: cluster an evenly spaced subset (~25 min of speech)
MERGE_COSINE = 0.8
AHC_COSINE = 0.55  # average-linkage stop for short inputs
KMEANS_RESTARTS = 10
SEED = 0

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def _check_hints(n: int, num_speakers: int | None, min_speakers: int, max_speakers: int) -> None:
    if num_speakers is not None and num_speakers < 1:
        raise ValueError("num_speakers must be at least 1")
    if min_speakers < 1 or max_speakers < min_speakers:
        raise ValueError("need 1 <= min_speakers <= max_speakers")


def affinity(embeddings: F32, pval: float = PVAL) -> npt.NDArray[np.float64]:
    """Pruned, symmetric cosine affinity of L2-normalised embeddings."""
    n = embeddings.shape[0]
    sim = np.clip(embeddings.astype(np.float64) @ embeddings.T.astype(np.float64), -1.0, 1.0)
    keep = min(n, max(MIN_NEIGHBOURS, round(pval * n)))
    # zero all but the `keep` largest entries of each row
    cutoff = np.partition(sim, n - keep, axis=1)[:, n - keep][:, None]
    pruned = np.where(sim >= cutoff, sim, 0.0)
    return 0.5 * (pruned + pruned.T)


def estimate_count(eigenvalues: npt.NDArray[np.float64], min_k: int, max_k: int) -> int:
    """The number of clusters: the largest gap among the smallest Laplacian eigenvalues."""
    top = min(max_k, eigenvalues.shape[0] - 1)
    if top < min_k:
        return max(1, min(min_k, int(eigenvalues.shape[0])))
    gaps = np.diff(eigenvalues[: top + 1])  # gaps[i]: between eigenvalue i and i + 1
    return int(np.argmax(gaps[min_k - 1 : top]) + min_k)


def kmeans(x: npt.NDArray[np.float64], k: int, *, restarts: int = KMEANS_RESTARTS) -> I64:
    """Lloyd's k-means with k-means++ seeding; the best of `restarts` runs (least inertia)."""
    n = x.shape[0]
    rng = np.random.default_rng(SEED)
    best: I64 = np.zeros(n, dtype=np.int64)
    best_inertia = np.inf
    for _ in range(restarts):
        centers = np.empty((k, x.shape[1]))
        centers[0] = x[rng.integers(n)]
        dist = np.square(x - centers[0]).sum(axis=1)
        for c in range(1, k):
            total = dist.sum()
            index = rng.choice(n, p=dist / total) if total > 0 else rng.integers(n)
            centers[c] = x[index]
            dist = np.minimum(dist, np.square(x - centers[c]).sum(axis=1))
        labels = np.zeros(n, dtype=np.int64)
        for _step in range(100):
            d = np.square(x[:, None, :] - centers[None, :, :]).sum(axis=2)
            new = d.argmin(axis=1)
            if _step and np.array_equal(new, labels):
                break
            labels = new
            for c in range(k):
                members = x[labels == c]
                if len(members):
                    centers[c] = members.mean(axis=0)
        inertia = float(np.square(x - centers[labels]).sum())
        if inertia < best_inertia:
            best, best_inertia = labels.astype(np.int64), inertia
    return best


def _ahc(embeddings: F32, threshold: float, min_k: int, max_k: int) -> I64:
    """Average-linkage agglomeration on cosine similarity: merge the most similar pair of
    clusters while it is above `threshold` or there are more than max_k clusters, never
    below min_k."""
    n = embeddings.shape[0]
    sim = embeddings.astype(np.float64) @ embeddings.T.astype(np.float64)
    clusters: list[list[int]] = [[i] for i in range(n)]
    while len(clusters) > 1:
        best, pair = -np.inf, (0, 1)
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                s = float(sim[np.ix_(clusters[a], clusters[b])].mean())
                if s > best:
                    best, pair = s, (a, b)
        if len(clusters) <= min_k or (best < threshold and len(clusters) <= max_k):
            break
        a, b = pair
        clusters[a] += clusters.pop(b)
    labels = np.zeros(n, dtype=np.int64)
    for c, members in enumerate(clusters):
        labels[members] = c
    return labels


def _merge_similar(embeddings: F32, labels: I64, min_k: int, threshold: float) -> I64:
    """Merge the closest pair of clusters while their centroids' cosine exceeds `threshold`."""
    labels = labels.copy()
    while True:
        ids = np.unique(labels)
        if len(ids) <= max(1, min_k):
            return labels
        cents = np.stack([embeddings[labels == i].mean(axis=0) for i in ids]).astype(np.float64)
        cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
        sim = cents @ cents.T
        np.fill_diagonal(sim, -np.inf)
        a, b = np.unravel_index(int(np.argmax(sim)), sim.shape)
        if sim[a, b] <= threshold:
            return labels
        labels[labels == ids[b]] = ids[a]


def cluster(
    embeddings: F32,
    *,
    num_speakers: int | None = None,
    min_speakers: int = 1,
    max_speakers: int = 8,
) -> I64:
    """Cluster ids (0..k-1, in order of first appearance) of n L2-normalised embeddings.

    `num_speakers` fixes the count; otherwise it is estimated within [min_speakers,
    max_speakers]. The count never exceeds the number of windows.
    """
    n = embeddings.shape[0]
    _check_hints(n, num_speakers, min_speakers, max_speakers)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if num_speakers is not None:
        min_k = max_k = num_speakers
    else:
        min_k, max_k = min_speakers, max_speakers
    min_k, max_k = min(min_k, n), min(max_k, n)
    if n == 1 or max_k == 1:
        return np.zeros(n, dtype=np.int64)
    if n > MAX_SPECTRAL:
        subset = np.linspace(0, n - 1, MAX_SPECTRAL).round().astype(np.int64)
        sub = cluster(
            embeddings[subset],
            num_speakers=num_speakers,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
        )
        cents = np.stack([embeddings[subset][sub == k].mean(axis=0) for k in range(sub.max() + 1)])
        cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
        return first_appearance((embeddings @ cents.T).argmax(axis=1).astype(np.int64))
    if n < MIN_SPECTRAL:
        labels = _ahc(embeddings, AHC_COSINE, min_k, max_k)
    else:
        aff = affinity(embeddings)
        laplacian = np.diag(aff.sum(axis=1)) - aff
        eigenvalues, eigenvectors = np.linalg.eigh(laplacian)
        k = min_k if min_k == max_k else estimate_count(eigenvalues, min_k, max_k)
        labels = kmeans(eigenvectors[:, :k], k) if k > 1 else np.zeros(n, dtype=np.int64)
        if num_speakers is None:
            labels = _merge_similar(embeddings, labels, min_k, MERGE_COSINE)
    return first_appearance(labels)


def first_appearance(labels: I64) -> I64:
    """Renumber labels 0, 1, ... in the order they first occur."""
    order: dict[int, int] = {}
    for label in labels.tolist():
        order.setdefault(label, len(order))
    return np.array([order[label] for label in labels.tolist()], dtype=np.int64)
