"""Class-based metrics from the evaluator's softmax: classifier score, class histogram, modes.

Includes the stacked-MNIST mode count of the PacGAN paper (1,000 modes = three digits).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import xlogy

from ganlab.data.stacked_mnist import STACKED_MODES
from ganlab.errors import GanlabError


def _probs(name: str, probs: object, num_classes: int | None = None) -> np.ndarray:
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim != 2 or len(array) < 1:
        raise GanlabError(f"{name}: expected class probabilities of shape (N, C) with N >= 1, got {array.shape}")
    if num_classes is not None and array.shape[1] != num_classes:
        raise GanlabError(f"{name}: expected {num_classes} classes, got {array.shape[1]}")
    if (array < 0).any() or not np.allclose(array.sum(1), 1.0, atol=1e-4):
        raise GanlabError(f"{name}: expected rows of non-negative probabilities summing to 1")
    return array


def classifier_score(probs: np.ndarray) -> float:
    r"""Inception-score analogue with the MNIST evaluator: exp(E_x KL(p(y|x) || p(y))).

    .. math:: \mathrm{CS} = \exp\Big(\frac{1}{N}\sum_i \sum_y p(y|x_i)
              \log\frac{p(y|x_i)}{p(y)}\Big),\quad p(y) = \frac{1}{N}\sum_i p(y|x_i)

    Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016 (computed over the
    whole set, no splits). Range [1, C]; confident, class-balanced sets approach C = 10.

    Args:
        probs: float (N, C), rows sum to 1.
    """
    probs = _probs("probs", probs)
    marginal = probs.mean(0, keepdims=True)
    kl = (xlogy(probs, probs) - xlogy(probs, marginal)).sum(1)
    return float(math.exp(kl.mean()))


def class_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Histogram of integer labels (N,) in [0, num_classes): int64 (num_classes,)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise GanlabError(f"labels: expected shape (N,), got {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise GanlabError(f"labels: expected values in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    return np.bincount(labels, minlength=num_classes).astype(np.int64)


def default_min_count(n: int, num_classes: int) -> int:
    """A class is covered with at least a tenth of its uniform share of n samples (>= 1)."""
    return max(1, math.ceil(0.1 * n / num_classes))


def classes_covered(counts: np.ndarray, min_count: int = 1) -> int:
    """Number of classes with at least `min_count` samples."""
    return int((np.asarray(counts) >= min_count).sum())


def kl_to_prior(counts: np.ndarray, prior: np.ndarray | None = None) -> float:
    r"""KL(p || q) in nats from the sample class distribution p = counts / sum(counts) to a prior q.

    .. math:: \mathrm{KL}(p \| q) = \sum_c p_c \log(p_c / q_c)

    As in the mode-collapse evaluations of Srivastava et al. (VEEGAN, 2017) and Lin et al.
    (PacGAN, 2018). Empty classes contribute 0; the result is 0 when p = q.

    Args:
        counts: (C,) non-negative, sum > 0.  prior: (C,) positive, sums to 1; None = uniform.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.sum() <= 0 or (counts < 0).any():
        raise GanlabError(f"counts: expected a non-negative (C,) histogram with a positive sum, got {counts}")
    q = np.full(len(counts), 1.0 / len(counts)) if prior is None else np.asarray(prior, dtype=np.float64)
    if q.shape != counts.shape or (q <= 0).any() or not math.isclose(q.sum(), 1.0, abs_tol=1e-6):
        raise GanlabError(f"prior: expected {len(counts)} positive probabilities summing to 1, got {q}")
    p = counts / counts.sum()
    return float(xlogy(p, p).sum() - xlogy(p, q).sum())


def class_histogram_stats(
    probs: np.ndarray, prior: np.ndarray | None = None, min_count: int | None = None
) -> dict[str, float]:
    """`classes_covered` and `class_kl` of the argmax classes of probs (N, C).

    `min_count` defaults to `default_min_count(N, C)`: with 10,000 samples and 10 classes a class
    counts as covered from 100 samples on, so a few misclassified odd samples do not cover it.
    """
    probs = _probs("probs", probs)
    counts = class_counts(probs.argmax(1), probs.shape[1])
    if min_count is None:
        min_count = default_min_count(len(probs), probs.shape[1])
    return {"classes_covered": float(classes_covered(counts, min_count)), "class_kl": kl_to_prior(counts, prior)}




def stacked_mode_labels(channel_probs: np.ndarray) -> np.ndarray:
    """Mode index 100 a + 10 b + c of stacked digits from per-channel probs (N, 3, 10): int64 (N,)."""
    channel_probs = np.asarray(channel_probs)
    if channel_probs.ndim != 3 or channel_probs.shape[1:] != (3, 10):
        raise GanlabError(f"channel_probs: expected shape (N, 3, 10), got {channel_probs.shape}")
    digits = channel_probs.argmax(2)
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


def stacked_mode_stats(channel_probs: np.ndarray) -> dict[str, float]:
    """Stacked MNIST: modes covered among 1,000 (>= 1 sample each) and KL to uniform (nats).

    Each channel is classified on its own by the evaluator; the mode is the digit triple.
    Lin et al., "PacGAN: The power of two samples in generative adversarial networks",
    NeurIPS 2018 (a mode counts as covered with at least one sample, as there).

    Args:
        channel_probs: float (N, 3, 10), the evaluator's softmax for each channel.

    Returns:
        {"modes_covered": in [0, 1000], "mode_kl": KL(p_samples || uniform over 1,000)}.
    """
    counts = class_counts(stacked_mode_labels(channel_probs), STACKED_MODES)
    return {"modes_covered": float(classes_covered(counts, 1)), "mode_kl": kl_to_prior(counts)}


class ClassifierScore:
    """Accumulates float64 sufficient statistics of `classifier_score`: the count, the sum of
    p(y|x) and the sum of sum_y p log p, since E_x KL(p(y|x) || p(y)) = E_x[sum p log p] -
    sum_y p(y) log p(y)."""

    higher_is_better = True

    def __init__(self) -> None:
        self.reset()

    def update(self, probs: np.ndarray) -> None:
        """Add a batch of class probabilities, float (B, C)."""
        probs = _probs("probs", probs, None if self._sum_probs is None else len(self._sum_probs))
        if self._sum_probs is None:
            self._sum_probs = np.zeros(probs.shape[1])
        self._sum_probs += probs.sum(0)
        self._sum_neg_entropy += float(xlogy(probs, probs).sum())
        self._count += len(probs)

    def compute(self) -> float:
        if self._count == 0 or self._sum_probs is None:
            raise GanlabError("ClassifierScore needs at least 1 sample, got 0")
        marginal = self._sum_probs / self._count
        return float(math.exp(self._sum_neg_entropy / self._count - xlogy(marginal, marginal).sum()))

    def reset(self) -> None:
        self._sum_probs: np.ndarray | None = None
        self._sum_neg_entropy = 0.0
        self._count = 0


class ClassHistogram:
    """Accumulates argmax class counts; `compute()` gives `class_histogram_stats` of them."""

    higher_is_better = {"classes_covered": True, "class_kl": False}

    def __init__(self, num_classes: int = 10, prior: np.ndarray | None = None, min_count: int | None = None) -> None:
        self.num_classes, self.prior, self.min_count = num_classes, prior, min_count
        self.reset()

    def update(self, probs: np.ndarray) -> None:
        """Add a batch of class probabilities, float (B, num_classes)."""
        probs = _probs("probs", probs, self.num_classes)
        self.counts += class_counts(probs.argmax(1), self.num_classes)

    def compute(self) -> dict[str, float]:
        n = int(self.counts.sum())
        if n == 0:
            raise GanlabError("ClassHistogram needs at least 1 sample, got 0")
        min_count = default_min_count(n, self.num_classes) if self.min_count is None else self.min_count
        return {"classes_covered": float(classes_covered(self.counts, min_count)), "class_kl": kl_to_prior(self.counts, self.prior)}

    def reset(self) -> None:
        self.counts = np.zeros(self.num_classes, dtype=np.int64)
