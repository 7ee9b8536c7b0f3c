"""Stacked MNIST: three digits as channels, 1,000 modes, counted with the evaluator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.data.stacked_mnist import STACKED_MODES, StackedDataset, load_stacked_mnist, stack_digits
from ganlab.errors import GanlabError


def labelled_digits(m=50):
    """Images whose every pixel holds the image's own index, labels = index % 10."""
    images = torch.arange(m, dtype=torch.uint8).reshape(m, 1, 1, 1).expand(m, 1, 28, 28).clone()
    return images, torch.arange(m) % 10


def test_channels_are_drawn_digits_and_labels_encode_them():
    images, labels = labelled_digits()
    data = stack_digits(images, labels, n=400, seed=3)
    assert isinstance(data, StackedDataset) and len(data) == 400
    assert data.images.shape == (400, 3, 28, 28) and data.images.dtype == torch.uint8
    source = data.images[:, :, 0, 0].long()  # (n, 3) index of the drawn digit per channel
    assert torch.equal(data.images, source[:, :, None, None].expand(-1, -1, 28, 28).to(torch.uint8))
    digits = labels[source]
    assert torch.equal(data.labels, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])
    assert data.labels.min() >= 0 and data.labels.max() < STACKED_MODES


def test_seeded_and_covers_all_modes():
    images, labels = labelled_digits()
    a, b = stack_digits(images, labels, 20000, seed=0), stack_digits(images, labels, 20000, seed=0)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.labels, stack_digits(images, labels, 20000, seed=1).labels)
    counts = np.bincount(a.labels.numpy(), minlength=1000)
    assert (counts > 0).sum() == 1000  # 20 expected per mode; P(any empty) < 1e-5


def test_errors():
    images, labels = labelled_digits()
    with pytest.raises(GanlabError, match=r"images: expected shape \(M, 1, H, W\) with M >= 1, got \(50, 28, 28\)"):
        stack_digits(images[:, 0], labels, 5)
    with pytest.raises(GanlabError, match=r"labels: expected shape \(50,\), got \(49,\)"):
        stack_digits(images, labels[:-1], 5)
    with pytest.raises(GanlabError, match=r"n: expected >= 1 stacked images, got 0"):
        stack_digits(images, labels, 0)


@pytest.mark.slow
def test_real_stacked_mnist_modes_match_its_labels(mnist_dir):
    from ganlab.metrics.classes import class_counts, kl_to_prior
    from ganlab.metrics.suite import stacked_mode_scores

    data = load_stacked_mnist("test", n=1500, seed=0, data_dir=mnist_dir)
    counts = class_counts(data.labels.numpy(), STACKED_MODES)
    true_modes, true_kl = int((counts > 0).sum()), kl_to_prior(counts)
    # 1,500 uniform draws of 1,000 modes cover about 1000 (1 - e^-1.5) = 777 of them
    assert 740 < true_modes < 810
    scores = stacked_mode_scores(data.images)
    assert abs(scores["modes_covered"] - true_modes) <= 10  # the evaluator reads ~99% of triples right
    assert scores["mode_kl"] == pytest.approx(true_kl, abs=0.03)
    collapsed = stacked_mode_scores(data.images[data.labels < 100])  # first digit always 0
    assert collapsed["modes_covered"] <= 100 and collapsed["mode_kl"] > 2.0


def test_stacked_scores_reject_single_channel():
    from ganlab.metrics.suite import stacked_mode_scores

    with pytest.raises(GanlabError, match=r"images: expected stacked MNIST of shape \(N, 3, 28, 28\), got \(2, 1, 28, 28\)"):
        stacked_mode_scores(torch.zeros(2, 1, 28, 28))
