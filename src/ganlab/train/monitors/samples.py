"""The sample probe and the collapse detectors, every `monitor.sample_every` (500) steps.

The probe draws `sample_size` (500) samples from fixed noise (its own torch.Generator: the
training RNG never moves, so a resumed run stays bit-identical) from the G being trained, not
its EMA (which lags the game by ~1 / (1 - beta) steps), and measures them as the dataset's spec
says (`ganlab.data.registry`: its scorer and display units):

  collapse      diversity, the samples' mean pairwise distance (evaluator features for data the
                MNIST evaluator scores, or pixels when its weights are missing; the points for the
                ring) below `diversity_min` (0.5) of the same for real data; MNIST: fewer than
                `min_classes` (8) evaluator classes covered (each class needs a tenth of its
                uniform share), or class-histogram entropy below `class_entropy_min` (1.5 nats,
                about 4.5 equally likely classes; uniform over 10 is 2.30); ring: modes covered
                `ring_mode_drop` (3) below the run's best so far at `ring_mode_patience` (2)
                probes in a row.
                Measured: 500 real test digits score diversity 0.98, 10 classes, entropy 2.29;
                the test digits of one class alone 0.26-0.48 (so 0.5 is "no more diverse than a
                single digit"), of two classes 0.59, of six 0.96 with entropy 1.80. Ring runs
                (seeds 0-5, 3,000 steps) keep diversity at 0.77-1.03; counted on 500 samples, their
                modes hop by up to 3 between probes (seed 1: 5 8 5 7; seed 5: 7 6 4 5), hence the
                patience, while seed 2 settles at 4 of 8 from step 2,000 on, a real partial
                collapse that fires at step 2,500; `fail-collapse` falls to 0 modes and diversity
                0.01-0.15 by step 1,000.
  partial       MNIST: the class histogram's KL to MNIST's training labels (`class_kl`, as `ganlab
  collapse      eval` has it), averaged over the last `class_kl_probes` (3) probes, above
                `class_kl_max` (0.4 nats): every class may be there, but far from its share.
                Calibrated on the probe of full-length runs of the seed study (seed 0, 500
                samples; the KL of 500 real training digits is 0.01): the baseline `fc` after 30
                epochs (FID 73.5 on 1,000 samples; 10,000: FID 73, recall 0.30, coverage 0.44)
                draws 188 of 500 1s, 2 0s and 4 2s: class_kl 0.465, entropy 1.80 nats, 8 classes
                covered, and 0.42-0.49 over its last ten epochs (from its entropies 1.77-1.84),
                0.32-0.40 at epochs 10-19; `conv-g` after 30 epochs (FID 47.5) 0.337, 9 classes
                (0s, 1s and 6s scarce); `conv-g-wide` at epoch 20 (FID 42, every digit) 0.243;
                `fc-batchnorm-g` in its first epochs, every digit but one, 0.224. So 0.4 flags the
                baseline's excess of 1s that the collapse checks pass (entropy 1.8 > 1.5, 8-9
                classes), and leaves runs that draw every digit `healthy`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ganlab.config import MonitorConfig, RunConfig
from ganlab.data import ring_mode_stats
from ganlab.data.registry import dataset_spec
from ganlab.metrics.suite import MNIST_TRAIN_CLASS_COUNTS
from ganlab.models.noise import sample_noise
from ganlab.train.monitors.events import Signal

# The probe's fixed noise comes from its own generator with this seed.
MONITOR_SEED = 4242
# What the evaluator's class histogram is compared with: MNIST's training labels, the prior of
# `ganlab eval`'s class_kl (the evaluator is MNIST's, 99.6% accurate: its classes are the labels).
CLASS_PRIOR = MNIST_TRAIN_CLASS_COUNTS / MNIST_TRAIN_CLASS_COUNTS.sum()


def ring_modes_covered(x: torch.Tensor) -> int:
    """How many of the ring's modes points x (N, 2) cover (VEEGAN's convention, `ring_mode_stats`)."""
    return int(ring_mode_stats(x.float().cpu())["modes_covered"])


# Mode counters by the dataset spec's scorer, for data whose modes are known exactly.
MODE_COUNTERS: dict[str, Callable[[torch.Tensor], int]] = {"ring": ring_modes_covered}


class SampleStats(NamedTuple):
    """What the probe measured on a sample batch; None where it does not apply."""

    diversity: float  # samples' mean pairwise distance / real data's
    classes_covered: int | None = None  # MNIST with the evaluator
    class_entropy: float | None = None  # nats
    class_kl: float | None = None  # nats, KL(samples' class histogram || real data's)
    modes_covered: int | None = None  # the ring


def mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of distinct rows of x (n, d), n >= 2."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    squared = (x * x).sum(1)
    d2 = np.clip(squared[:, None] + squared[None, :] - 2.0 * (x @ x.T), 0.0, None)
    n = len(x)
    return float(np.sqrt(d2).sum() / (n * (n - 1)))


def class_stats(probs: np.ndarray, prior: np.ndarray | None = None) -> tuple[int, float, float]:
    """(classes covered, entropy in nats, KL to `prior` in nats) of the argmax-class histogram
    of probs (N, C); `prior` (C,) positive, sums to 1, None = uniform.

    A class is covered with at least a tenth of its uniform share of the N samples.
    """
    from ganlab.metrics.classes import class_counts, classes_covered, default_min_count, kl_to_prior

    counts = class_counts(np.asarray(probs).argmax(1), probs.shape[1])
    p = counts[counts > 0] / counts.sum()
    entropy = max(0.0, float(-(p * np.log(p)).sum()))  # not -0.0 for one class
    covered = classes_covered(counts, default_min_count(len(probs), probs.shape[1]))
    return covered, entropy, max(0.0, kl_to_prior(counts, prior))


def check_imbalance(recent_kl: list[float], config: MonitorConfig) -> Signal | None:
    """Partial collapse: the mean class_kl of the last `class_kl_probes` probes (`recent_kl`, the
    latest last) above `class_kl_max`; None while fewer probes have been seen."""
    if len(recent_kl) < config.class_kl_probes:
        return None
    mean = float(np.mean(recent_kl[-config.class_kl_probes :]))
    if mean <= config.class_kl_max:
        return None
    message = f"class histogram {mean:.3g} nats from MNIST's (KL, mean of {config.class_kl_probes} probes;"
    message += f" > {config.class_kl_max:g}): some digits far over or under their share"
    return Signal("imbalance", "class_kl", mean, config.class_kl_max, message)


def check_collapse(stats: SampleStats, best_modes: int, config: MonitorConfig) -> list[Signal]:
    """Collapse signals of a sample batch; `best_modes` is the ring's best modes covered so far."""
    found = []
    if stats.diversity < config.diversity_min:
        message = f"samples' mean pairwise distance is {stats.diversity:.3g} of real data's"
        message += f" (< {config.diversity_min:g})"
        found.append(Signal("collapse", "diversity", stats.diversity, config.diversity_min, message))
    if stats.classes_covered is not None and stats.classes_covered < config.min_classes:
        message = f"{stats.classes_covered} of 10 classes covered (< {config.min_classes})"
        found.append(Signal("collapse", "classes_covered", stats.classes_covered, config.min_classes, message))
    if stats.class_entropy is not None and stats.class_entropy < config.class_entropy_min:
        message = f"class entropy {stats.class_entropy:.3g} nats (< {config.class_entropy_min:g}; uniform is 2.30)"
        found.append(Signal("collapse", "class_entropy", stats.class_entropy, config.class_entropy_min, message))
    if stats.modes_covered is not None and stats.modes_covered <= best_modes - config.ring_mode_drop:
        threshold = best_modes - config.ring_mode_drop
        message = f"{stats.modes_covered} of 8 modes covered, down from {best_modes} (<= {threshold})"
        found.append(Signal("collapse", "modes_covered", stats.modes_covered, threshold, message))
    return found


class SampleProbe:
    """Draws a batch from fixed noise and measures its diversity, classes or ring modes.

    Args:
        config: the run's config (noise, dataset, scaling, `monitor.sample_size`).
        real: real data in display units, `sample_size` of it (or less): images float
            (N, C, H, W) in [0, 1] (or uint8), or points (N, D).
        device: where G runs.
        evaluator: the classifier of the dataset's scorer (the MNIST evaluator,
            `ganlab.metrics.scorers.class_evaluator`), or None: the scorer has none (the ring),
            or its weights are missing; then diversity is measured on the data (pixels or
            points) and classes are not checked.

    Ring modes are counted where the dataset spec's scorer has a counter in `MODE_COUNTERS`.
    """

    def __init__(
        self, config: RunConfig, real: torch.Tensor, device: torch.device, evaluator: nn.Module | None = None
    ) -> None:
        self.config = config
        self.spec = dataset_spec(config.data.dataset)
        self.evaluator = evaluator
        self.count_modes = MODE_COUNTERS.get(self.spec.scorer)
        n = config.monitor.sample_size
        generator = torch.Generator().manual_seed(MONITOR_SEED)
        self.z = sample_noise(n, config.noise, generator=generator).to(device)
        real = real[:n].float() / 255 if real.dtype == torch.uint8 else real[:n].float()
        self.real_diversity = mean_pairwise_distance(self._features(real)[0])

    def _features(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """(features (N, d) float64, class probabilities (N, C) or None) of x in display units."""
        if self.evaluator is None:
            return x.detach().flatten(1).double().cpu().numpy(), None
        from ganlab.metrics.features import extract

        found = extract(x.clamp(0, 1), self.evaluator)
        return found.features, found.probs

    @torch.no_grad()
    def __call__(self, g: nn.Module) -> SampleStats | None:
        """Stats of G's batch (G is called unconditionally, `g(z)`); None when a sample is not
        finite (divergence reports that)."""
        was_training = g.training
        g.eval()
        try:
            x = g(self.z)
        finally:
            g.train(was_training)
        if not torch.isfinite(x).all():
            return None
        x = self.spec.to_display(x, self.config)
        features, probs = self._features(x)
        diversity = mean_pairwise_distance(features) / self.real_diversity
        if self.count_modes is not None:
            return SampleStats(diversity, modes_covered=self.count_modes(x))
        if probs is None:
            return SampleStats(diversity)
        covered, entropy, kl = class_stats(probs, CLASS_PRIOR)
        return SampleStats(diversity, classes_covered=covered, class_entropy=entropy, class_kl=kl)
