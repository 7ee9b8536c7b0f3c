"""Improved precision/recall (k-NN manifolds) and density/coverage on feature sets.

All four compare each point's distance to the other set against k-nearest-neighbour radii:
the radius of x in set X is the distance from x to its k-th nearest *other* point of X.
Distances are Euclidean, computed in float64 in row chunks so that 10,000 x 10,000 pairs never
sit in memory at once.
"""

from __future__ import annotations

import numpy as np

from ganlab.errors import GanlabError
from ganlab.metrics._checks import as_features, same_dim

CHUNK = 1024  # rows per distance block: 1024 x 10,000 float64 is 80 MB


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between rows of a (N, D) and b (M, D): float64 (N, M)."""
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.clip(squared, 0.0, None))


def knn_radii(x: np.ndarray, ks: tuple[int, ...] = (3, 5)) -> dict[int, np.ndarray]:
    """For each k, the distance from every row of x (N, D) to its k-th nearest other row.

    Returns {k: float64 (N,)}. Raises GanlabError unless 1 <= k < N.
    """
    x = as_features("x", x)
    for k in ks:
        if not 1 <= k < len(x):
            raise GanlabError(f"k: expected 1 <= k < number of samples ({len(x)}), got {k}")
    radii = {k: np.empty(len(x)) for k in ks}
    for start in range(0, len(x), CHUNK):
        block = pairwise_distances(x[start : start + CHUNK], x)
        # Column 0 of the partition is the point itself (distance 0), so index k is the k-th other.
        part = np.partition(block, sorted(ks), axis=1)
        for k in ks:
            radii[k][start : start + CHUNK] = part[:, k]
    return radii


def prdc_from_features(
    real: np.ndarray,
    fake: np.ndarray,
    k_pr: int = 3,
    k_dc: int = 5,
    real_radii: dict[int, np.ndarray] | None = None,
) -> dict[str, float]:
    r"""Precision, recall, density and coverage of `fake` against `real`.

    With r_k(x) the k-NN radius of x within its own set, N reals and M fakes:

    - precision = (1/M) sum_j 1[exists i: ||f_j - x_i|| <= r_k(x_i)]        (k = k_pr)
    - recall    = (1/N) sum_i 1[exists j: ||x_i - f_j|| <= r_k(f_j)]        (k = k_pr)
    - density   = 1/(k M) sum_j sum_i 1[||f_j - x_i|| <= r_k(x_i)]          (k = k_dc)
    - coverage  = (1/N) sum_i 1[min_j ||x_i - f_j|| <= r_k(x_i)]           (k = k_dc)

    Kynkäänniemi et al., "Improved Precision and Recall Metric for Assessing Generative Models",
    NeurIPS 2019; Naeem et al., "Reliable Fidelity and Diversity Metrics for Generative Models",
    ICML 2020.

    Args:
        real: float (N, D); fake: float (M, D); N, M > max(k_pr, k_dc) for the sets whose
            radii are computed here.
        real_radii: optional precomputed `knn_radii(real, (k_pr, k_dc))` (cached for references).

    Returns:
        {"precision", "recall", "density", "coverage"}: precision, recall and coverage in [0, 1];
        density >= 0 (about 1 for matching distributions, can exceed 1).

    Raises:
        GanlabError: too few samples for k, D differs, or `real_radii` has the wrong shape.
    """
    real = as_features("real", real)
    fake = as_features("fake", fake)
    same_dim("real", real, "fake", fake)
    if real_radii is None:
        real_radii = knn_radii(real, (k_pr, k_dc))
    for k in (k_pr, k_dc):
        if k not in real_radii or real_radii[k].shape != (len(real),):
            raise GanlabError(f"real_radii: expected radii for k={k} of shape ({len(real)},), got keys {sorted(real_radii)}")
    fake_radius = knn_radii(fake, (k_pr,))[k_pr]

    precise = 0
    recalled = np.zeros(len(real), dtype=bool)
    density_hits = 0
    nearest_fake = np.full(len(real), np.inf)
    for start in range(0, len(fake), CHUNK):
        block = pairwise_distances(fake[start : start + CHUNK], real)  # (chunk of fakes, N)
        precise += int((block <= real_radii[k_pr][None, :]).any(1).sum())
        recalled |= (block <= fake_radius[start : start + CHUNK, None]).any(0)
        density_hits += int((block <= real_radii[k_dc][None, :]).sum())
        nearest_fake = np.minimum(nearest_fake, block.min(0))
    return {
        "precision": precise / len(fake),
        "recall": float(recalled.mean()),
        "density": density_hits / (k_dc * len(fake)),
        "coverage": float((nearest_fake <= real_radii[k_dc]).mean()),
    }


class PRDC:
    """Collects features and computes `prdc_from_features`; caches the real radii between calls.

    `higher_is_better` is True for all four values.
    """

    higher_is_better = True

    def __init__(self, k_pr: int = 3, k_dc: int = 5) -> None:
        self.k_pr, self.k_dc = k_pr, k_dc
        self._features: dict[bool, list[np.ndarray]] = {True: [], False: []}
        self._real_radii: dict[int, np.ndarray] | None = None

    def update(self, features: np.ndarray, real: bool) -> None:
        """Add a batch of features, float (B, D), to the real or the generated set."""
        self._features[real].append(as_features("features", features, min_rows=1))
        if real:
            self._real_radii = None

    def compute(self) -> dict[str, float]:
        real = np.concatenate(self._features[True]) if self._features[True] else np.empty((0, 0))
        fake = np.concatenate(self._features[False]) if self._features[False] else np.empty((0, 0))
        real = as_features("real", real)
        if self._real_radii is None:
            self._real_radii = knn_radii(real, (self.k_pr, self.k_dc))
        return prdc_from_features(real, fake, self.k_pr, self.k_dc, self._real_radii)

    def reset(self, keep_real: bool = True) -> None:
        self._features[False] = []
        if not keep_real:
            self._features[True] = []
            self._real_radii = None
