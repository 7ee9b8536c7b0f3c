"""FID: the Fréchet distance against closed forms and an independent sqrtm-based formula."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from ganlab.errors import GanlabError
from ganlab.metrics.fid import FID, fid_from_features, frechet_distance, mean_and_covariance


def reference_frechet(mu1, sigma1, mu2, sigma2):
    """The textbook formula with scipy's general matrix square root."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2 - 2 * covmean))


def random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_identical_sets_give_zero():
    x = np.random.default_rng(0).normal(size=(500, 16))
    assert fid_from_features(x, x) == pytest.approx(0.0, abs=1e-8)


def test_isotropic_gaussians_closed_form():
    # N(mu1, s1^2 I) vs N(mu2, s2^2 I): ||mu1 - mu2||^2 + d (s1 - s2)^2.
    d, s1, s2 = 8, 1.0, 2.0
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    expected = d * 0.25 + d * (s1 - s2) ** 2
    got = frechet_distance(mu1, s1**2 * np.eye(d), mu2, s2**2 * np.eye(d))
    assert got == pytest.approx(expected, abs=1e-10)


def test_isotropic_gaussian_samples_near_closed_form():
    rng = np.random.default_rng(1)
    d = 4
    x = rng.normal(0.0, 1.0, size=(20000, d))
    y = rng.normal(1.0, 3.0, size=(20000, d))
    # ||(1,1,1,1)||^2 + 4 (3 - 1)^2 = 4 + 16 = 20
    assert fid_from_features(x, y) == pytest.approx(20.0, rel=0.03)


def test_matches_reference_formula_on_random_covariances():
    rng = np.random.default_rng(2)
    for d in (2, 5, 12):
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        s1, s2 = random_spd(rng, d), random_spd(rng, d)
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference_frechet(mu1, s1, mu2, s2), rel=1e-8)


def test_rank_deficient_covariance_is_fine():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 4)) @ np.diag([1.0, 1.0, 0.0, 0.0])  # two dead features
    y = rng.normal(size=(300, 4))
    value = fid_from_features(x, y)
    assert np.isfinite(value) and value > 0.5


def test_accumulating_class_matches_function_and_keeps_real():
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(300, 6)), rng.normal(0.3, 1.2, size=(250, 6))
    metric = FID()
    for start in range(0, 300, 64):
        metric.update(real[start : start + 64], real=True)
    for start in range(0, 250, 100):
        metric.update(fake[start : start + 100], real=False)
    assert metric.compute() == pytest.approx(fid_from_features(real, fake), rel=1e-9)
    assert FID.higher_is_better is False
    metric.reset()
    metric.update(real[:200], real=False)
    assert metric.compute() == pytest.approx(fid_from_features(real, real[:200]), rel=1e-9)


def test_mean_and_covariance_are_unbiased():
    x = np.array([[0.0, 0.0], [2.0, 2.0], [4.0, 0.0]])
    mu, sigma = mean_and_covariance(x)
    assert mu.tolist() == [2.0, pytest.approx(2 / 3)]
    assert sigma[0, 0] == pytest.approx(4.0)  # ((-2)^2 + 0 + 2^2) / 2


def test_errors_name_argument_expected_and_got():
    x = np.zeros((5, 3))
    with pytest.raises(GanlabError, match=r"fake: expected at least 2 samples, got 1"):
        fid_from_features(x, np.zeros((1, 3)))
    with pytest.raises(GanlabError, match=r"feature dimension mismatch: real has 3 features, fake has 4"):
        fid_from_features(x, np.zeros((5, 4)))
    with pytest.raises(GanlabError, match=r"real: expected a 2-D feature array \(N, D\), got shape \(5,\)"):
        fid_from_features(np.zeros(5), x)
    with pytest.raises(GanlabError, match=r"sigma2: expected shape \(3, 3\), got \(2, 2\)"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))
    with pytest.raises(GanlabError, match=r"FID needs at least 2 generated samples, got 0"):
        metric = FID()
        metric.update(x, real=True)
        metric.compute()
    with pytest.raises(GanlabError, match=r"features: expected 3 features per sample, got 2"):
        metric = FID()
        metric.update(x, real=True)
        metric.update(np.zeros((4, 2)), real=True)
    with pytest.raises(GanlabError, match=r"real: expected finite features, got NaN or inf"):
        fid_from_features(np.full((3, 3), np.nan), x)
