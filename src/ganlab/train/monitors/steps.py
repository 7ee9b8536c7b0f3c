"""Detectors over the per-step statistics, read every `monitor.every` steps (one host sync).

The statistics are named by the objective (today d_loss, g_loss, d_real, d_fake, d_grad_norm and
g_grad_norm; a penalty may add more, such as "gp"), and each detector looks up the ones it needs
by name (`STEP_INPUTS`); a detector whose inputs are absent is off.

  divergence    a NaN/inf in any statistic or in the norm of all weights; or the window's median
                gradient norm of D or G above `grad_norm_max` (1000). ganhacks says "above ~100";
                our healthy 2-D ring runs already reach G gradient norms of 60-90 (non-saturating
                G loss with a confident D), so 100 would fire on them, and a too-high learning rate
                gives 1e4+.
  d-wins        window medians of the D loss below `d_wins_loss` (0.1), D(x) above
                `d_wins_real` (0.9) and D(G(z)) below `d_wins_fake` (0.1), for `d_wins_steps`
                (500) steps in a row. Our runs otherwise sit at D loss 0.3-0.6 (ring) or 0.15-0.45
                (fc on MNIST), D(x) 0.55-0.93; below 0.1 D tells almost every sample apart and G
                gets no useful signal. Medians, not means: in the baseline's D-wins phase (D loss
                0.000 for 400 steps) a single spike of one step would otherwise break the streak.
                Off for an objective without probabilities (d_real, d_fake), such as Wasserstein.
  oscillation   a loss's variance over the last `oscillation_span` (500) steps above
                `oscillation_factor` (10) times its median over the `oscillation_history` (2500)
                steps before (a 3.2x larger standard deviation). The variance counts both spikes
                within a window and swings between windows (law of total variance). The baseline
                is the run's own recent level, so the slow rise of a healthy G loss does not fire.
                Measured: healthy ring runs peak at 2.7x (6 seeds); the fc baseline's D-wins phase
                on MNIST (D loss 0.000, G loss swinging 3.5 -> 10 -> 3.5) reaches 6.7x, and is
                caught by d-wins.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from ganlab.config import MonitorConfig
from ganlab.train.monitors.events import Signal

# The statistics each detector reads (divergence also checks every statistic for NaN/inf).
STEP_INPUTS = {
    "divergence": ("d_grad_norm", "g_grad_norm"),
    "d-wins": ("d_loss", "d_real", "d_fake"),
    "oscillation": ("d_loss", "g_loss"),
}


def check_divergence(window: Mapping[str, np.ndarray], weight_norm: float, grad_norm_max: float) -> Signal | None:
    """NaN/inf in any per-step stat (n,) or in the norm of all weights; or a median gradient norm
    of D or G over the window above `grad_norm_max` (a norm absent from `window` is not checked)."""
    for name, values in window.items():
        bad = ~np.isfinite(values)
        if bad.any():
            value = float(values[bad][0])
            message = f"{name} is {value} ({int(bad.sum())} of {len(values)} steps)"
            return Signal("divergence", name, value, None, message)
    if not math.isfinite(weight_norm):
        return Signal("divergence", "weight_norm", weight_norm, None, f"a weight is {weight_norm}")
    for name in STEP_INPUTS["divergence"]:
        if name not in window:
            continue
        median = float(np.median(window[name]))
        if median > grad_norm_max:
            message = f"median {name} over {len(window[name])} steps is {median:.4g} (> {grad_norm_max:g})"
            return Signal("divergence", name, median, grad_norm_max, message)
    return None


def d_wins(medians: Mapping[str, float], config: MonitorConfig) -> bool:
    """Whether D separates real from fake almost perfectly in a window (its median stats)."""
    return (
        medians["d_loss"] < config.d_wins_loss
        and medians["d_real"] > config.d_wins_real
        and medians["d_fake"] < config.d_wins_fake
    )


def d_wins_signal(medians: Mapping[str, float], streak: int, config: MonitorConfig) -> Signal | None:
    """The d-wins signal once D has won (`d_wins`) for `streak` >= `d_wins_steps` steps in a row."""
    if streak < config.d_wins_steps:
        return None
    message = (
        f"median D loss {medians['d_loss']:.3g} (< {config.d_wins_loss:g}), "
        f"D(x) {medians['d_real']:.3f}, D(G(z)) {medians['d_fake']:.3f}, for {streak} steps"
    )
    return Signal("d-wins", "d_loss", medians["d_loss"], config.d_wins_loss, message)


def span_variance(means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """Variance over equal-sized windows from their means and variances (W, k): (k,).

    Law of total variance: the mean of the within-window variances plus the variance of the
    window means, so both spikes and slow swings count.
    """
    return variances.mean(axis=0) + means.var(axis=0)


def check_oscillation(current: float, earlier: np.ndarray, factor: float, name: str) -> Signal | None:
    """`current` span variance of loss `name` above `factor` x the median of `earlier` ones."""
    if len(earlier) == 0:
        return None
    baseline = float(np.median(earlier))
    ratio = current / baseline if baseline > 0 else math.inf
    if not ratio > factor:  # a NaN ratio is divergence's business
        return None
    message = f"{name} variance {current:.4g} is {ratio:.3g}x its earlier median {baseline:.4g} (> {factor:g}x)"
    return Signal("oscillation", f"{name}_variance", ratio, factor, message)
