"""Sample-quality evaluation during training, every `train.eval_every` epochs."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ganlab.config import RunConfig
from ganlab.data.datasets import ring_mode_stats
from ganlab.train.sampling import generate

# The seed of the evaluation noise: fixed, and drawn from its own generator, so evaluating never
# moves the training RNG (a resumed run stays bit-identical).
EVAL_SEED = 12345
# The metric the `best` checkpoint is chosen by, and whether higher is better, per dataset.
BEST_BY: dict[str, tuple[str, bool]] = {"mnist": ("fid", False), "ring": ("high_quality", True)}

Evaluate = Callable[[nn.Module], dict[str, float]]


def make_evaluator(config: RunConfig, data_dir: Path | None, device: torch.device) -> Evaluate | None:
    """A function scoring a generator with the configured metrics, or None when evaluation is off."""
    if config.train.eval_every == 0:
        return None
    n = config.train.eval_samples
    if config.data.dataset == "ring":

        def score(g: nn.Module) -> dict[str, float]:
            stats = ring_mode_stats(_samples(g, config, n, device))
            return {"modes_covered": float(stats["modes_covered"]), "high_quality": float(stats["high_quality"])}

        return score

    from ganlab.metrics.suite import MetricSuite

    suite = MetricSuite(config.train.eval_metrics, data_dir=data_dir, device=device)
    # Load (and checksum) the evaluator now, not after the first epoch. Building the network draws
    # initial weights: fork the RNG so that evaluating or not gives the same training.
    with torch.random.fork_rng(devices=[]):
        suite.evaluator
    return lambda g: suite(_samples(g, config, n, device))


def _samples(g: nn.Module, config: RunConfig, n: int, device: torch.device) -> torch.Tensor:
    was_training = g.training
    g.eval()
    try:
        return generate(g, config, n, seed=EVAL_SEED, device=device)
    finally:
        g.train(was_training)


def is_better(config: RunConfig, scores: dict[str, float], best: float | None) -> bool:
    """Whether `scores` beat the best value so far of the dataset's `BEST_BY` metric."""
    name, higher = BEST_BY[config.data.dataset]
    if name not in scores:
        return False
    return best is None or (scores[name] > best if higher else scores[name] < best)
