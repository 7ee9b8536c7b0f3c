"""Scores of a conditional run: does G draw the class it is asked for, and how well, per class?

`class_accuracy`: the share of samples that the evaluator classifies as the class they were
drawn for, overall and per requested class. `per_class_fid`: the Fréchet distance of each class's
samples to the MNIST test images of that class, on the evaluator's features. Both reuse the
features the metric suite extracts anyway, so they cost a few milliseconds beyond the usual
scores; the per-class real-data floor (held-out training images of each class, the same count
as the samples) costs nothing new either: the suite's floor already holds their features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ganlab.errors import GanlabError
from ganlab.metrics.fid import fid_from_features
from ganlab.metrics.suite import MetricSuite


def class_accuracy(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[float, list[float]]:
    """(accuracy, per-class accuracies) of the classifier's argmax against the requested labels.

    accuracy = (1/N) sum_i [argmax_c probs[i, c] = labels[i]], in [0, 1], higher is better; the
    per-class list has num_classes entries, each over the samples requested of that class (NaN
    for a class with none).

    Args:
        probs: float (N, C) class probabilities (or logits: only the argmax counts).
        labels: int (N,) the classes the samples were drawn for, in 0..num_classes - 1.
    """
    probs, labels = np.asarray(probs), np.asarray(labels)
    if probs.ndim != 2 or labels.shape != (len(probs),) or len(probs) == 0:
        got = f"got {probs.shape} and {labels.shape}"
        raise GanlabError(f"class_accuracy: expected probs (N, C) and labels (N,) with N >= 1, {got}")
    hits = probs.argmax(1) == labels
    per_class = [float(hits[labels == k].mean()) if (labels == k).any() else float("nan") for k in range(num_classes)]
    return float(hits.mean()), per_class


def per_class_fid(
    real: np.ndarray, real_labels: np.ndarray, fake: np.ndarray, fake_labels: np.ndarray, num_classes: int
) -> list[float]:
    """FID (Heusel et al. 2017) of each class apart: class k's fake features against class k's
    real ones, `fid_from_features` on float (N, D) arrays; NaN where a side has under 2 samples
    of the class. Lower is better; with about 1,000 samples a class it carries the bias FID has
    at that size, so read it against the floor computed at the same size."""
    scores = []
    for k in range(num_classes):
        r, f = real[real_labels == k], fake[fake_labels == k]
        scores.append(fid_from_features(r, f) if min(len(r), len(f)) >= 2 else float("nan"))
    return scores


def conditional_scores(
    suite: MetricSuite, images: torch.Tensor, labels: torch.Tensor, floor_n: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """The suite's scores of images (N, 1, 28, 28) in [0, 1], drawn for `labels` (N,), and the
    conditional scores: {"classes", "accuracy", "accuracy_per_class", "fid_per_class",
    "fid_per_class_floor", "fid_class_mean", "fid_class_mean_floor"}. The floor takes the
    first `floor_n` held-out training images (the suite's real floor) as the samples."""
    fake = suite.features(images)
    y = labels.cpu().numpy()
    classes = int(suite.prior.shape[0])
    # The suite's cached reference arrays: MNIST test (the reference) and train (the floor).
    real, real_labels = suite._split("test", 0, suite.n_real)
    held_out, held_out_labels = suite._split("train", 0, floor_n)
    accuracy, accuracy_per_class = class_accuracy(fake.probs, y, classes)
    fid = per_class_fid(real.features, real_labels, fake.features, y, classes)
    floor = per_class_fid(real.features, real_labels, held_out.features, held_out_labels, classes)
    return suite.score_features(fake), {
        "classes": classes,
        "accuracy": accuracy,
        "accuracy_per_class": accuracy_per_class,
        "fid_per_class": fid,
        "fid_per_class_floor": floor,
        "fid_class_mean": float(np.nanmean(fid)),
        "fid_class_mean_floor": float(np.nanmean(floor)),
    }
