"""Detectors over the periodic evaluations (`train.eval_every`).

  regression    the metric the best checkpoint is chosen by (the dataset's best-by metric: FID
                for MNIST, high_quality for the ring) worse than its best by more than
                `regression_tolerance` (relative) for `regression_evals` (3) evaluations in a row
                after the best. The tolerance defaults to the metric's own
                (`REGRESSION_TOLERANCE`): 20% for FID; 50% for the ring's high_quality, which
                swings 2-3x between epochs of healthy runs (0.14 -> 0.04 -> 0.15 -> 0.24).
  memorisation  the `memorisation` score (add it to `train.eval_metrics`) below
                `memorisation_min` (0.8): samples lie much closer to the training images than
                unseen test images do (real data scores about 1).
"""

from __future__ import annotations

import math
from typing import Sequence

from ganlab.train.monitors.events import Signal

# Default regression tolerance per best-by metric (relative to the best value); 20% for others.
REGRESSION_TOLERANCE = {"fid": 0.2, "high_quality": 0.5}


def check_regression(
    values: Sequence[float], higher_is_better: bool, tolerance: float, evals: int, name: str
) -> Signal | None:
    """The last `evals` of `values` (one per evaluation, oldest first) all worse than the best
    before them by more than `tolerance` (relative)."""
    if len(values) <= evals:
        return None
    best = max(values[:-evals]) if higher_is_better else min(values[:-evals])
    recent = values[-evals:]
    if higher_is_better:
        limit = best * (1 - tolerance)
        worse = all(v < limit for v in recent)
    else:
        limit = best * (1 + tolerance)
        worse = all(v > limit for v in recent)
    if not worse or not math.isfinite(best):
        return None
    message = (
        f"{name} {recent[-1]:.4g} and the {evals - 1} evaluations before it are worse than the best "
        f"{best:.4g} by more than {tolerance:.0%}"
    )
    return Signal("regression", name, float(recent[-1]), float(limit), message)


def check_memorisation(value: float, minimum: float) -> Signal | None:
    """The memorisation score (sample / test NN-to-train distance) below `minimum`."""
    if not value < minimum:
        return None
    message = f"samples lie {value:.3g}x as far from the training images as test images do (< {minimum:g})"
    return Signal("memorisation", "memorisation", value, minimum, message)
