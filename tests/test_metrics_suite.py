"""The metric suite on real MNIST: known corruptions, dropped classes, noise, copies, floor.

Reference: MNIST test[0:2000]; "samples" come from test[2000:] (unseen by the reference), so
clean samples sit at the real-data floor and every corruption must move the scores away.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganlab.errors import GanlabError
from ganlab.metrics import features as features_module
from ganlab.names import arrow, metric_arrow
from ganlab.metrics.suite import ALL_METRICS, MetricSuite

N_REAL, N_TRAIN = 2000, 3000


def shared_cache(tmp_path_factory):
    """One feature cache for the whole session (test_metrics_commands.py uses it too)."""
    path = tmp_path_factory.getbasetemp() / "metrics-features"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def suite(mnist_dir, tmp_path_factory):
    return MetricSuite(
        n_real=N_REAL,
        n_train=N_TRAIN,
        data_dir=mnist_dir,
        kid_subsets=20,
        kid_subset_size=500,
        cache_dir=shared_cache(tmp_path_factory),
    )


@pytest.fixture(scope="module")
def pool(mnist_dir):
    from ganlab.data.mnist import load_mnist

    test = load_mnist("test", mnist_dir)
    return test.images[N_REAL:].float() / 255, test.labels[N_REAL:]


def gaussian_noise(x, sigma, g):
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def gaussian_blur(x, sigma, g):
    radius = math.ceil(3 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(x, k.view(1, 1, 1, -1), padding=(0, radius))
    return F.conv2d(x, k.view(1, 1, -1, 1), padding=(radius, 0))


def salt_and_pepper(x, p, g):
    u = torch.rand(x.shape, generator=g)
    x = x.clone()
    x[u < p / 2] = 0.0
    x[u > 1 - p / 2] = 1.0
    return x


CORRUPTIONS = {
    "gaussian_noise": (gaussian_noise, (0.1, 0.2, 0.35)),
    "gaussian_blur": (gaussian_blur, (0.7, 1.2, 2.0)),
    "salt_and_pepper": (salt_and_pepper, (0.03, 0.1, 0.25)),
}


@pytest.fixture(scope="module")
def corrupted_scores(suite, pool):
    """{kind: [scores at strength 0, s1, s2, s3]} for fid and kid on 500 images."""
    x = pool[0][:500]
    fast = MetricSuite(
        ["fid", "kid"], n_real=N_REAL, n_train=N_TRAIN, data_dir=suite.data_dir, kid_subsets=20, kid_subset_size=500
    )
    fast.cache = suite.cache
    clean = fast(x)
    out = {}
    for kind, (corrupt, strengths) in CORRUPTIONS.items():
        g = torch.Generator().manual_seed(0)
        out[kind] = [clean] + [fast(corrupt(x, s, g)) for s in strengths]
    noise = fast(torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(1)))
    return out, noise


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_fid_and_kid_rise_with_corruption_strength(corrupted_scores, kind):
    scores = corrupted_scores[0][kind]
    fids = [s["fid"] for s in scores]
    kids = [s["kid"] for s in scores]
    assert all(a < b for a, b in zip(fids, fids[1:])), fids
    assert all(a < b for a, b in zip(kids, kids[1:])), kids
    assert fids[-1] > 5 * fids[0]


@pytest.mark.slow
def test_pure_noise_is_far_worse_than_any_corruption(corrupted_scores):
    by_kind, noise = corrupted_scores
    worst_fid = max(s["fid"] for scores in by_kind.values() for s in scores)
    worst_kid = max(s["kid"] for scores in by_kind.values() for s in scores)
    assert noise["fid"] > 1.5 * worst_fid
    assert noise["kid"] > 3 * worst_kid


@pytest.mark.slow
def test_dropping_classes_lowers_recall_coverage_and_classes(suite, pool):
    x, labels = pool
    n = 500
    kept = {10: torch.arange(len(labels)), 5: torch.nonzero(labels < 5)[:, 0], 1: torch.nonzero(labels == 1)[:, 0]}
    scores = {k: suite(x[index[:n]]) for k, index in kept.items()}
    for a, b in ((10, 5), (5, 1)):
        assert scores[a]["recall"] > scores[b]["recall"]
        assert scores[a]["coverage"] > scores[b]["coverage"]
        assert scores[a]["classes_covered"] > scores[b]["classes_covered"]
        assert scores[a]["class_kl"] < scores[b]["class_kl"]
    assert [scores[k]["classes_covered"] for k in (10, 5, 1)] == [10, 5, 1]
    assert scores[1]["recall"] < 0.3 and scores[1]["coverage"] < 0.3
    assert scores[1]["class_kl"] == pytest.approx(math.log(1 / suite.prior[1]), rel=0.05)
    assert min(scores[k]["precision"] for k in kept) > 0.7  # fidelity is untouched


def test_noise_images_fail_every_metric(suite):
    noise = suite(torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(2)))
    assert noise["precision"] < 0.05 and noise["recall"] < 0.05
    assert noise["density"] < 0.05 and noise["coverage"] < 0.05
    assert noise["classifier_score"] < 3
    assert noise["memorisation"] > 2


def test_real_floor_and_copies(suite, pool):
    floor = suite.real_floor(1000)
    assert set(floor) == set(ALL_METRICS)
    assert floor["classifier_score"] > 9.5
    assert floor["classes_covered"] == 10 and floor["class_kl"] < 0.02
    assert 0.6 < floor["precision"] <= 1 and 0.6 < floor["recall"] <= 1 and 0.6 < floor["coverage"] <= 1
    assert 0.7 < floor["density"] < 1.25
    assert 0.85 < floor["memorisation"] < 1.15  # real images outside the training reference: about 1
    # MNIST's training and test writers differ: training images sit farther from the test
    # reference than other test images do (FID about 3.6 against 0.8 with 1,000 images).
    same_split = suite(pool[0][:1000])["fid"]
    assert same_split < floor["fid"] < 10
    # training images themselves (inside the memorisation reference) are copies: 0
    copies = suite._split("train", 0, 500)[0]
    assert suite.score_features(copies, metrics=["memorisation"])["memorisation"] == pytest.approx(0.0, abs=0.01)


def test_identical_to_reference_gives_zero_fid(suite):
    scores = suite.score_features(suite._real(), metrics=["fid", "precision", "recall"])
    assert scores["fid"] == pytest.approx(0.0, abs=1e-6)
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0


def test_subset_and_disk_cache(suite, pool, monkeypatch):
    suite.prepare()  # make sure the references are on disk
    fresh = MetricSuite(["fid", "classes_covered"], n_real=N_REAL, n_train=N_TRAIN, data_dir=suite.data_dir, cache_dir=suite.cache.directory)
    images = pool[0][:100]
    feats = fresh.features(images)

    def no_extraction(*args, **kwargs):
        raise AssertionError("the reference should come from the disk cache")

    monkeypatch.setattr(features_module, "extract", no_extraction)
    scores = fresh.score_features(feats)
    assert list(scores) == ["fid", "classes_covered"]
    assert scores["fid"] == pytest.approx(suite.score_features(feats)["fid"], rel=1e-9)
    assert fresh.higher_is_better == {"fid": False, "classes_covered": True}
    assert tuple(arrow(ALL_METRICS[m]) for m in ("fid", "recall", "memorisation")) == ("↓", "↑", "≈1")
    # A report's curves of a run without eval.json still know which way is better.
    assert (metric_arrow("fid"), metric_arrow("modes_covered"), metric_arrow("custom")) == ("↓", "↑", "")
    assert metric_arrow("custom", {"custom": True}) == "↑"


def test_errors():  # needs no MNIST: every check comes before the reference is loaded
    suite = MetricSuite(n_real=N_REAL, n_train=N_TRAIN)
    with pytest.raises(GanlabError, match=r"metrics: expected names from fid, .*, got fdi"):
        MetricSuite(["fdi"])
    with pytest.raises(GanlabError, match=r"n_real: expected 11..10000 \(MNIST test images\), got 20000"):
        MetricSuite(n_real=20000)
    with pytest.raises(GanlabError, match=r"images: expected float values in \[0, 1\], got range \[-1, 1\]"):
        suite(torch.linspace(-1, 1, 20 * 784).reshape(20, 1, 28, 28))
    with pytest.raises(GanlabError, match=r"images: expected shape \(N, 1, 28, 28\) with N >= 1, got \(3, 28, 28\)"):
        suite(torch.zeros(3, 28, 28))
    with pytest.raises(GanlabError, match=r"images: expected more than 5 samples for the k-NN metrics, got 5"):
        suite(torch.zeros(5, 1, 28, 28))
    with pytest.raises(GanlabError, match=r"n: expected 6..2999 held-out training images for the floor, got 3000"):
        suite.real_floor(3000)
