"""Scores of a conditional run (issue 13): the evaluator's accuracy on the requested classes and
per-class FID, on hand-made numbers, then on real MNIST (skipped without it)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ganlab.errors import GanlabError
from ganlab.metrics.conditional import class_accuracy, conditional_scores, per_class_fid
from ganlab.metrics.suite import MetricSuite


def test_accuracy_counts_the_argmax_against_the_requested_class():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0], [0.1, 0.9, 0.0]])
    accuracy, per_class = class_accuracy(probs, np.array([0, 1, 1, 1]), 3)
    assert accuracy == 0.75
    assert per_class[:2] == [1.0, 2 / 3] and math.isnan(per_class[2])  # no sample asked for class 2
    with pytest.raises(GanlabError, match=r"class_accuracy: expected probs \(N, C\) and labels \(N,\)"):
        class_accuracy(probs, np.array([0, 1]), 3)


def test_per_class_fid_is_zero_for_the_same_features_and_the_squared_shift_for_a_shifted_class():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 4))
    labels = np.repeat([0, 1], 200)
    fake = real.copy()
    fake[labels == 1] += np.array([3.0, 0.0, 4.0, 0.0])  # same covariance: FID = |shift|^2 = 25
    fid = per_class_fid(real, labels, fake, labels, 3)
    assert fid[0] == pytest.approx(0, abs=1e-6) and fid[1] == pytest.approx(25, rel=1e-6)
    assert math.isnan(fid[2])  # no class-2 samples on either side


@pytest.fixture(scope="module")
def suite(mnist_dir, tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "metrics-features"  # shared with test_metrics_suite.py
    cache.mkdir(exist_ok=True)
    return MetricSuite(["fid"], n_real=2000, n_train=1000, data_dir=mnist_dir, cache_dir=cache)


@pytest.mark.slow
def test_real_digits_drawn_for_their_own_labels_score_near_the_floor(suite, mnist_dir):
    from ganlab.data.mnist import load_mnist

    test = load_mnist("test", mnist_dir)
    images, labels = test.images[2000:2600].float() / 255, test.labels[2000:2600].long()
    scores, right = conditional_scores(suite, images, labels, 600)
    _, wrong = conditional_scores(suite, images, (labels + 1) % 10, 600)
    assert right["accuracy"] > 0.97 and wrong["accuracy"] < 0.05
    assert min(right["accuracy_per_class"]) > 0.9
    assert len(right["fid_per_class"]) == 10 and right["classes"] == 10
    # each class's real digits sit near the floor; under the wrong label they are far from it
    assert right["fid_class_mean"] < 2 * right["fid_class_mean_floor"] < wrong["fid_class_mean"]
    assert scores == suite.score_features(suite.features(images))  # the usual scores, unchanged


@pytest.mark.slow
def test_ganlab_eval_of_a_conditional_run_adds_the_per_class_table(suite, mnist_dir, tmp_path, monkeypatch):
    """An untrained conditional G, scored end to end: eval.json's "conditional" and its table."""
    from typer.testing import CliRunner

    from ganlab.cli import app
    from ganlab.config import load_preset
    from ganlab.metrics import suite as suite_module
    from ganlab.models import build_discriminator, build_generator
    from ganlab.rundir import RunDir
    from ganlab.train.checkpoint import save_weights

    monkeypatch.setattr(suite_module, "MetricSuite", lambda *args, **kwargs: suite)
    config = load_preset("cgan", ["model.g.hidden=[16]", "model.d.hidden=[16]", "noise.dim=8"])
    run = RunDir(tmp_path / "run")
    run.create(config)
    save_weights(run.weights("final"), {"g": build_generator(config), "d": build_discriminator(config)})
    result = CliRunner().invoke(app, ["eval", str(run.path), "--n", "300", "--data-dir", str(mnist_dir)])
    assert result.exit_code == 0, result.output
    written = json.loads((run.path / "eval.json").read_text())["conditional"]
    assert len(written["accuracy_per_class"]) == len(written["fid_per_class"]) == 10
    assert 0 <= written["accuracy"] <= 1 and written["fid_class_mean"] > written["fid_class_mean_floor"]
    shown = " ".join(result.output.split())  # a table title wraps with the length of tmp_path
    assert "samples drawn for each class" in shown and "all (FID: mean)" in shown
