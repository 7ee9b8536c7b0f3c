"""KID: unbiased MMD^2 against a pair-by-pair reference written from the definition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ganlab.errors import GanlabError
from ganlab.metrics.kid import KID, kid_from_features, mmd2_unbiased


def reference_mmd2(x, y):
    d = x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_reference():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 5)), rng.normal(0.5, 1.0, size=(15, 5))
    assert mmd2_unbiased(x, y) == pytest.approx(reference_mmd2(x, y), rel=1e-10)


def test_kid_with_whole_sets_is_the_full_mmd2_with_zero_spread():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 4)), rng.normal(1.0, 1.0, size=(30, 4))
    mean, std = kid_from_features(x, y, n_subsets=5, subset_size=30)
    assert mean == pytest.approx(reference_mmd2(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_subset_size_is_clamped_to_the_smaller_set():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(12, 3))
    mean, std = kid_from_features(x, y, n_subsets=10, subset_size=1000)
    assert np.isfinite(mean) and std > 0


def test_same_distribution_near_zero_and_shift_positive():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
    same, same_std = kid_from_features(x, y, n_subsets=20, subset_size=500)
    assert abs(same) < 3 * same_std + 1e-3
    shifted, _ = kid_from_features(x, y + 1.0, n_subsets=20, subset_size=500)
    assert shifted > 0.5 and shifted > 100 * abs(same)


def test_seeded_and_class_matches_function():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(100, 3)), rng.normal(0.2, 1.0, size=(80, 3))
    expected = kid_from_features(x, y, n_subsets=7, subset_size=50, seed=5)
    assert kid_from_features(x, y, n_subsets=7, subset_size=50, seed=5) == expected
    metric = KID(n_subsets=7, subset_size=50, seed=5)
    metric.update(x[:60], real=True)
    metric.update(x[60:], real=True)
    metric.update(y, real=False)
    assert metric.compute() == expected
    assert KID.higher_is_better is False


def test_errors():
    x = np.zeros((10, 3))
    with pytest.raises(GanlabError, match=r"real: expected at least 2 samples, got 1"):
        kid_from_features(np.zeros((1, 3)), x)
    with pytest.raises(GanlabError, match=r"feature dimension mismatch: real has 3 features, fake has 2"):
        kid_from_features(x, np.zeros((10, 2)))
    with pytest.raises(GanlabError, match=r"n_subsets: expected >= 1, got 0"):
        kid_from_features(x, x, n_subsets=0)
    with pytest.raises(GanlabError, match=r"subset_size: expected >= 2, got 1"):
        kid_from_features(x, x, subset_size=1)
    with pytest.raises(GanlabError, match=r"real: expected at least 2 samples, got 0"):
        KID().compute()
