"""Class-based metrics and memorisation: small cases whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from ganlab.errors import GanlabError
from ganlab.metrics.classes import (
    class_counts,
    class_histogram_stats,
    classes_covered,
    classifier_score,
    default_min_count,
    kl_to_prior,
    stacked_mode_labels,
    stacked_mode_stats,
)
from ganlab.metrics.memorisation import memorisation_ratio, nearest_neighbour_distances


def one_hot(labels, c=10):
    return np.eye(c)[labels]


def test_classifier_score_extremes():
    assert classifier_score(one_hot(np.arange(100) % 10)) == pytest.approx(10.0)  # confident, balanced
    assert classifier_score(one_hot(np.arange(100) % 4)) == pytest.approx(4.0)  # four classes only
    assert classifier_score(one_hot(np.zeros(50, dtype=int))) == pytest.approx(1.0)  # one class
    assert classifier_score(np.full((50, 10), 0.1)) == pytest.approx(1.0)  # no confidence


def test_classifier_score_matches_direct_formula():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(10, 0.3), size=200)
    marginal = probs.mean(0)
    kl = [sum(p[c] * math.log(p[c] / marginal[c]) for c in range(10) if p[c] > 0) for p in probs]
    assert classifier_score(probs) == pytest.approx(math.exp(np.mean(kl)), rel=1e-10)


def test_kl_to_prior_and_coverage():
    assert kl_to_prior(np.full(10, 7)) == pytest.approx(0.0, abs=1e-12)
    assert kl_to_prior(np.array([5, 0, 0, 0])) == pytest.approx(math.log(4))
    prior = np.array([0.5, 0.25, 0.25])
    # p = (0.25, 0.25, 0.5): 0.25 log 0.5 + 0.25 log 1 + 0.5 log 2
    assert kl_to_prior(np.array([1, 1, 2]), prior) == pytest.approx(0.25 * math.log(0.5) + 0.5 * math.log(2))
    assert classes_covered(np.array([0, 1, 5, 100]), min_count=5) == 2
    assert default_min_count(10000, 10) == 100
    assert default_min_count(5, 10) == 1
    assert class_counts(np.array([0, 2, 2]), 4).tolist() == [1, 0, 2, 0]


def test_class_histogram_stats_ignores_stray_samples():
    labels = np.concatenate([np.zeros(500, dtype=int), np.ones(495, dtype=int), np.full(5, 7)])
    stats = class_histogram_stats(one_hot(labels))
    assert stats["classes_covered"] == 2.0  # 5 samples of class 7 < 10 = a tenth of its uniform share
    p = np.array([500, 495, 5]) / 1000
    assert stats["class_kl"] == pytest.approx(float(np.sum(p * np.log(p / 0.1))))


def test_stacked_modes():
    triples = np.array([[a, b, c] for a in range(10) for b in range(10) for c in range(10)])
    probs = np.eye(10)[triples]  # (1000, 3, 10)
    assert stacked_mode_labels(probs[[123, 999, 0]]).tolist() == [123, 999, 0]
    full = stacked_mode_stats(probs)
    assert full == {"modes_covered": 1000.0, "mode_kl": pytest.approx(0.0, abs=1e-12)}
    single = stacked_mode_stats(probs[[42] * 30])
    assert single == {"modes_covered": 1.0, "mode_kl": pytest.approx(math.log(1000))}


def test_nearest_neighbour_distances_and_ratio():
    rng = np.random.default_rng(1)
    q, ref = rng.normal(size=(300, 5)), rng.normal(size=(1500, 5))
    assert nearest_neighbour_distances(q, ref) == pytest.approx(cdist(q, ref).min(1), rel=1e-4, abs=1e-4)
    assert nearest_neighbour_distances(ref[:10], ref) == pytest.approx(np.zeros(10), abs=2e-3)  # copies
    assert memorisation_ratio(np.array([1.0, 2.0, 9.0]), np.array([4.0, 4.0])) == pytest.approx(0.5)


def test_errors():
    with pytest.raises(GanlabError, match=r"probs: expected rows of non-negative probabilities summing to 1"):
        classifier_score(np.full((3, 10), 0.2))
    with pytest.raises(GanlabError, match=r"probs: expected class probabilities of shape \(N, C\)"):
        classifier_score(np.full(10, 0.1))
    with pytest.raises(GanlabError, match=r"prior: expected 3 positive probabilities summing to 1"):
        kl_to_prior(np.array([1, 2, 3]), np.array([0.5, 0.5, 0.0]))
    with pytest.raises(GanlabError, match=r"labels: expected values in \[0, 4\), got \[0, 4\]"):
        class_counts(np.array([0, 4]), 4)
    with pytest.raises(GanlabError, match=r"channel_probs: expected shape \(N, 3, 10\), got \(5, 10\)"):
        stacked_mode_labels(np.zeros((5, 10)))
    with pytest.raises(GanlabError, match=r"real_distances: expected a positive median, got 0.0"):
        memorisation_ratio(np.ones(3), np.zeros(3))
    with pytest.raises(GanlabError, match=r"feature dimension mismatch: queries has 2 features, reference has 3"):
        nearest_neighbour_distances(np.zeros((2, 2)), np.zeros((2, 3)))


def test_accumulating_classes_match_functions():
    from ganlab.metrics.classes import ClassHistogram, ClassifierScore

    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.full(10, 0.2), size=300)
    score, hist = ClassifierScore(), ClassHistogram()
    for start in range(0, 300, 128):
        score.update(probs[start : start + 128])
        hist.update(probs[start : start + 128])
    assert score.compute() == pytest.approx(classifier_score(probs), rel=1e-10)
    assert hist.compute() == class_histogram_stats(probs)
    score.reset()
    with pytest.raises(GanlabError, match=r"ClassifierScore needs at least 1 sample, got 0"):
        score.compute()
    with pytest.raises(GanlabError, match=r"probs: expected 10 classes, got 3"):
        hist.update(np.full((2, 3), 1 / 3))
