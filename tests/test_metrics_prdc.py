"""Precision/recall/density/coverage against a from-the-definition reference on small sets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from ganlab.errors import GanlabError
from ganlab.metrics import prdc as prdc_module
from ganlab.metrics.prdc import PRDC, knn_radii, prdc_from_features


def reference_prdc(real, fake, k_pr=3, k_dc=5):
    """Straight from the papers, with full distance matrices and sorted rows."""
    rr, ff, fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    # k-th nearest other point: sorted row index 0 is the point itself.
    real_r = {k: np.sort(rr, axis=1)[:, k] for k in (k_pr, k_dc)}
    fake_r = np.sort(ff, axis=1)[:, k_pr]
    precision = np.mean([any(fr[j, i] <= real_r[k_pr][i] for i in range(len(real))) for j in range(len(fake))])
    recall = np.mean([any(fr[j, i] <= fake_r[j] for j in range(len(fake))) for i in range(len(real))])
    density = sum(fr[j, i] <= real_r[k_dc][i] for j in range(len(fake)) for i in range(len(real))) / (k_dc * len(fake))
    coverage = np.mean([fr[:, i].min() <= real_r[k_dc][i] for i in range(len(real))])
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


@pytest.mark.parametrize("chunk", [1024, 17])  # 17: many ragged blocks
def test_matches_reference(monkeypatch, chunk):
    monkeypatch.setattr(prdc_module, "CHUNK", chunk)
    rng = np.random.default_rng(0)
    real = rng.normal(size=(120, 6))
    fake = rng.normal(0.4, 1.3, size=(90, 6))
    got = prdc_from_features(real, fake)
    expected = reference_prdc(real, fake)
    for name in expected:
        assert got[name] == pytest.approx(expected[name], abs=1e-12), name
    assert 0.2 < got["precision"] < 1 and 0.2 < got["recall"] < 1  # a non-trivial case


def test_identical_sets():
    x = np.random.default_rng(1).normal(size=(200, 4))
    got = prdc_from_features(x, x)
    assert got["precision"] == 1.0 and got["recall"] == 1.0 and got["coverage"] == 1.0
    # each real ball (radius: 5th neighbour) holds itself and its 5 neighbours: (5 + 1) / 5
    assert got["density"] == pytest.approx(1.2)


def test_far_apart_sets_score_zero():
    rng = np.random.default_rng(2)
    got = prdc_from_features(rng.normal(size=(50, 3)), rng.normal(size=(50, 3)) + 100)
    assert got == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_mode_dropping_lowers_recall_and_coverage_not_precision():
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=10, size=(10, 5))
    real = centres[rng.integers(10, size=1000)] + rng.normal(size=(1000, 5))
    half = centres[rng.integers(5, size=1000)] + rng.normal(size=(1000, 5))
    got = prdc_from_features(real, half)
    assert got["precision"] > 0.9
    assert got["recall"] < 0.6 and got["coverage"] < 0.6


def test_knn_radii_and_cached_radii():
    x = np.array([[0.0], [1.0], [3.0], [6.0]])
    radii = knn_radii(x, (1, 2))
    assert radii[1].tolist() == [1.0, 1.0, 2.0, 3.0]
    assert radii[2].tolist() == [3.0, 2.0, 3.0, 5.0]
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(60, 3)), rng.normal(size=(40, 3))
    assert prdc_from_features(real, fake, real_radii=knn_radii(real, (3, 5))) == prdc_from_features(real, fake)


def test_class_accumulates_and_resets():
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(80, 3)), rng.normal(size=(70, 3))
    metric = PRDC()
    metric.update(real[:50], real=True)
    metric.update(real[50:], real=True)
    metric.update(fake, real=False)
    assert metric.compute() == prdc_from_features(real, fake)
    metric.reset()
    metric.update(real, real=False)
    assert metric.compute()["precision"] == 1.0
    assert PRDC.higher_is_better is True


def test_errors():
    x = np.zeros((5, 3))
    with pytest.raises(GanlabError, match=r"k: expected 1 <= k < number of samples \(5\), got 5"):
        knn_radii(x, (5,))
    with pytest.raises(GanlabError, match=r"feature dimension mismatch: real has 3 features, fake has 2"):
        prdc_from_features(np.zeros((10, 3)), np.zeros((10, 2)))
    with pytest.raises(GanlabError, match=r"fake: expected at least 2 samples, got 1"):
        prdc_from_features(np.zeros((10, 3)), np.zeros((1, 3)))
    with pytest.raises(GanlabError, match=r"real_radii: expected radii for k=5 of shape \(10,\)"):
        prdc_from_features(np.random.rand(10, 3), np.random.rand(10, 3), real_radii={3: np.zeros(10)})
