"""Sample-quality evaluation during training, every `train.eval_every` epochs."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ganlab.config import RunConfig
from ganlab.data.spec import DatasetSpec
from ganlab.metrics.scorers import build_scorer, scorer_note
from ganlab.train.bundle import Bundle
from ganlab.train.sampling import generate

# The seed of the evaluation noise: fixed, and drawn from its own generator, so evaluating never
# moves the training RNG (a resumed run stays bit-identical).
EVAL_SEED = 12345

Evaluate = Callable[[nn.Module], dict[str, float]]


def make_evaluator(config: RunConfig, spec: DatasetSpec, data_dir: Path | None, device: torch.device) -> Evaluate | None:
    """A function scoring a generator with the dataset's scorer, or None when evaluation is off
    or the dataset has no metrics (your own images). The MNIST scorer computes
    `train.eval_metrics`; the ring's, its mode statistics."""
    if config.train.eval_every == 0 or scorer_note(spec.scorer) is not None:
        return None
    scorer = build_scorer(spec.scorer, config.train.eval_metrics, data_dir, device)
    scorer.prepare()  # load and check what it needs now, not after the first epoch

    def evaluate(g: nn.Module) -> dict[str, float]:
        was_training = g.training
        g.eval()
        try:
            return scorer(generate(g, config, config.train.eval_samples, seed=EVAL_SEED, device=device))
        finally:
            g.train(was_training)

    return evaluate


def score(evaluate: Evaluate, bundle: Bundle) -> tuple[dict[str, float], dict[str, float]]:
    """(the sampler's scores, the raw G's as `raw_<metric>`): with `train.ema` the average G
    samples and the raw G is scored beside it on the same noise, so that the average's effect is
    measured; without, the second is {}."""
    scores = evaluate(bundle.sampler)
    if bundle.sampler is bundle.g:
        return scores, {}
    return scores, {f"raw_{name}": value for name, value in evaluate(bundle.g).items()}


def is_better(spec: DatasetSpec, scores: dict[str, float], best: float | None) -> bool:
    """Whether `scores` beat the best value so far of the dataset's best-by metric."""
    name, higher = spec.best_by
    if name not in scores:
        return False
    return best is None or (scores[name] > best if higher else scores[name] < best)
