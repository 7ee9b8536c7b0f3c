"""Fréchet distance between Gaussians fitted to two feature sets (FID on evaluator features)."""

from __future__ import annotations

import numpy as np

from ganlab.errors import GanlabError
from ganlab.metrics._checks import as_features, same_dim


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    r"""Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

    .. math:: d^2 = \lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{Tr}\big(\Sigma_1 + \Sigma_2
              - 2 (\Sigma_1 \Sigma_2)^{1/2}\big)

    Dowson & Landau (1982); as FID in Heusel et al., "GANs Trained by a Two Time-Scale Update
    Rule Converge to a Local Nash Equilibrium", NeurIPS 2017.

    The trace of the matrix square root is computed as the sum of the square roots of the
    eigenvalues of the symmetric PSD matrix  S1^{1/2} S2 S1^{1/2}  (which has the same eigenvalues
    as S1 S2), so no complex sqrtm is needed and rank-deficient covariances are fine.

    Args:
        mu1, mu2: means, float (D,).
        sigma1, sigma2: covariances, float (D, D), symmetric positive semi-definite.

    Returns:
        The squared distance, a float >= 0.

    Raises:
        GanlabError: shapes do not agree.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    d = mu1.shape[0]
    for name, value, shape in (("mu1", mu1, (d,)), ("mu2", mu2, (d,)), ("sigma1", sigma1, (d, d)), ("sigma2", sigma2, (d, d))):
        if value.shape != shape:
            raise GanlabError(f"{name}: expected shape {shape}, got {value.shape}")
    sqrt_sigma1 = _psd_sqrt(sigma1)
    middle = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)
    return max(value, 0.0)  # round-off can leave -1e-12 for identical inputs


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    eigenvalues, eigenvectors = np.linalg.eigh((sigma + sigma.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def mean_and_covariance(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D), float64, of features (N, D), N >= 2."""
    features = as_features("features", features)
    return features.mean(0), np.cov(features, rowvar=False).reshape(features.shape[1], features.shape[1])


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two feature sets: `frechet_distance` of their Gaussian fits.

    Args:
        real: float (N, D), N >= 2.  fake: float (M, D), M >= 2.

    Raises:
        GanlabError: fewer than 2 samples in either set, or D differs.
    """
    real = as_features("real", real)
    fake = as_features("fake", fake)
    same_dim("real", real, "fake", fake)
    return frechet_distance(*mean_and_covariance(real), *mean_and_covariance(fake))


class FID:
    """Accumulates float64 sufficient statistics (sum, sum of outer products, count) per set.

    `update(features, real=...)` adds a batch; `compute()` returns the FID; `reset()` clears the
    generated statistics and, unless `keep_real=False`, keeps the real ones (they are reused
    across evaluations).
    """

    higher_is_better = False

    def __init__(self) -> None:
        self._stats: dict[bool, tuple[np.ndarray, np.ndarray, int] | None] = {True: None, False: None}

    def update(self, features: np.ndarray, real: bool) -> None:
        """Add a batch of features, float (B, D), to the real or the generated statistics."""
        features = as_features("features", features, min_rows=1)
        stats = self._stats[real]
        if stats is None:
            d = features.shape[1]
            stats = (np.zeros(d), np.zeros((d, d)), 0)
        elif stats[0].shape[0] != features.shape[1]:
            raise GanlabError(
                f"features: expected {stats[0].shape[0]} features per sample, got {features.shape[1]}"
            )
        self._stats[real] = (stats[0] + features.sum(0), stats[1] + features.T @ features, stats[2] + len(features))

    def _gaussian(self, real: bool) -> tuple[np.ndarray, np.ndarray]:
        name = "real" if real else "generated"
        stats = self._stats[real]
        count = 0 if stats is None else stats[2]
        if count < 2:
            raise GanlabError(f"FID needs at least 2 {name} samples, got {count}")
        total, outer, n = stats
        mu = total / n
        return mu, (outer - n * np.outer(mu, mu)) / (n - 1)

    def compute(self) -> float:
        """FID of the accumulated sets; raises GanlabError with fewer than 2 samples in either."""
        real, fake = self._gaussian(True), self._gaussian(False)
        if real[0].shape != fake[0].shape:
            raise GanlabError(f"feature dimension mismatch: real has {real[0].shape[0]}, generated has {fake[0].shape[0]}")
        return frechet_distance(*real, *fake)

    def reset(self, keep_real: bool = True) -> None:
        self._stats[False] = None
        if not keep_real:
            self._stats[True] = None
