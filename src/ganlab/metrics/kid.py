"""Kernel Inception Distance: unbiased MMD^2 with a cubic polynomial kernel, over subsets."""

from __future__ import annotations

import numpy as np

from ganlab.errors import GanlabError
from ganlab.metrics._checks import as_features, same_dim


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x . y / d + 1)^3 for rows of x (N, D) and y (M, D); returns (N, M)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    r"""Unbiased estimate of the squared MMD between samples x (m, D) and y (n, D), m, n >= 2.

    .. math:: \widehat{\mathrm{MMD}}^2 = \frac{1}{m(m-1)} \sum_{i \ne j} k(x_i, x_j)
              + \frac{1}{n(n-1)} \sum_{i \ne j} k(y_i, y_j) - \frac{2}{mn} \sum_{i, j} k(x_i, y_j)

    Gretton et al., "A Kernel Two-Sample Test", JMLR 2012. Can be slightly negative.
    """
    m, n = len(x), len(y)
    k_xx, k_yy = polynomial_kernel(x, x), polynomial_kernel(y, y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * polynomial_kernel(x, y).mean())


def kid_from_features(
    real: np.ndarray,
    fake: np.ndarray,
    n_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    r"""KID: mean and standard deviation of `mmd2_unbiased` over random subsets.

    Each of `n_subsets` rounds draws `subset_size` rows without replacement from each set (the
    size is clamped to the smaller set) and computes the unbiased MMD^2 with kernel
    k(x, y) = (x . y / d + 1)^3. The std is the population std (ddof=0) of the subset values.

    Bińkowski et al., "Demystifying MMD GANs", ICLR 2018.

    Args:
        real: float (N, D); fake: float (M, D); N, M >= 2.
        n_subsets: >= 1.  subset_size: >= 2.  seed: for the subset draws.

    Returns:
        (mean, std) of the subset MMD^2 values.

    Raises:
        GanlabError: fewer than 2 samples, D differs, or n_subsets / subset_size out of range.
    """
    real = as_features("real", real)
    fake = as_features("fake", fake)
    same_dim("real", real, "fake", fake)
    if n_subsets < 1:
        raise GanlabError(f"n_subsets: expected >= 1, got {n_subsets}")
    if subset_size < 2:
        raise GanlabError(f"subset_size: expected >= 2, got {subset_size}")
    size = min(subset_size, len(real), len(fake))
    rng = np.random.default_rng(seed)
    values = np.empty(n_subsets)
    for i in range(n_subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        values[i] = mmd2_unbiased(x, y)
    return float(values.mean()), float(values.std())


class KID:
    """Collects features (KID needs samples, not moments) and computes `kid_from_features`.

    `reset()` drops the generated features and keeps the real ones unless `keep_real=False`.
    """

    higher_is_better = False

    def __init__(self, n_subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> None:
        self.n_subsets, self.subset_size, self.seed = n_subsets, subset_size, seed
        self._features: dict[bool, list[np.ndarray]] = {True: [], False: []}

    def update(self, features: np.ndarray, real: bool) -> None:
        """Add a batch of features, float (B, D), to the real or the generated set."""
        self._features[real].append(as_features("features", features, min_rows=1))

    def compute(self) -> tuple[float, float]:
        """(mean, std) of KID; raises GanlabError with fewer than 2 samples in either set."""
        real = np.concatenate(self._features[True]) if self._features[True] else np.empty((0, 0))
        fake = np.concatenate(self._features[False]) if self._features[False] else np.empty((0, 0))
        return kid_from_features(real, fake, self.n_subsets, self.subset_size, self.seed)

    def reset(self, keep_real: bool = True) -> None:
        self._features[False] = []
        if not keep_real:
            self._features[True] = []
