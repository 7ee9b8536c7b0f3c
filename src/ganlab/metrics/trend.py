"""Under-trained or bad? A run's verdict from its evaluation curve.

The study could not tell "my model is not good enough" from "the number of training epochs is
insufficient". The curve of the quality metric (the dataset's best-by metric: FID for MNIST)
can: over the last part of training,

- `still improving`: its least-squares trend is better than flat, significantly (the slope's
  t-test, one-sided, at `alpha`): more epochs would likely help, so the run is under-trained;
- `regressing`: where the trend ends is worse than the best by more than `margin` (relative),
  the best being the best mean of 3 evaluations in a row (one lucky evaluation is noise):
  training longer made it worse (the study's "longer is not always better");
- `plateaued`: neither, and the trend moves less than `margin` over the window: more epochs at
  this setting will not help much; the model is as good as this recipe gets.

`too short` when there are fewer than `min_points` evaluations in the window, or when the trend
moves the better way by more than `margin` over the window without being significant: a 5-epoch
run whose FID goes 150, 142, 122 (p 0.07 on 3 points) has not plateaued, it is too short to tell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Sequence

import numpy as np
from scipy import stats as sps

TrendVerdict = Literal["still improving", "plateaued", "regressing", "too short"]


@dataclass(frozen=True)
class Trend:
    """A run's trend verdict and what it rests on: the window's slope per epoch (in the metric's
    units, its sign as measured), the one-sided p-value of "better than flat", the best value
    and its epoch, and the last value."""

    verdict: TrendVerdict
    metric: str
    slope: float
    p_improving: float
    best: float
    best_epoch: int
    last: float
    window: tuple[int, int]  # first and last epoch of the fitted window

    def to_json(self) -> dict:
        """The fields for run.json; NaN (not measured) becomes null, which JSON can hold."""
        def number(x: float) -> float | None:
            return None if math.isnan(x) else x

        return {
            "verdict": self.verdict, "metric": self.metric, "slope_per_epoch": number(self.slope),
            "p_improving": number(self.p_improving), "best": number(self.best), "best_epoch": self.best_epoch,
            "last": number(self.last), "window": list(self.window),
        }  # fmt: skip


def trend(
    epochs: Sequence[int],
    values: Sequence[float],
    metric: str,
    higher_is_better: bool,
    *,
    tail: float = 0.5,
    min_points: int = 3,
    alpha: float = 0.05,
    margin: float = 0.1,
) -> Trend:
    """The verdict on a curve of `values` at `epochs` (ascending), fitted over its last `tail`
    share of evaluations (at least `min_points` of them)."""
    pairs = [(e, v) for e, v in zip(epochs, values) if v is not None and math.isfinite(v)]
    if not pairs:
        return Trend("too short", metric, math.nan, math.nan, math.nan, 0, math.nan, (0, 0))
    x_all = np.array([e for e, _ in pairs], dtype=np.float64)
    y_all = np.array([v for _, v in pairs], dtype=np.float64)
    sign = 1.0 if higher_is_better else -1.0  # sign * value: higher is better
    best_index = int(np.argmax(sign * y_all))
    best, best_epoch, last = float(y_all[best_index]), int(x_all[best_index]), float(y_all[-1])
    size = max(min_points, math.ceil(tail * len(pairs)))
    x, y = x_all[-size:], y_all[-size:]
    window = (int(x[0]), int(x[-1]))
    if len(pairs) < min_points:
        return Trend("too short", metric, math.nan, math.nan, best, best_epoch, last, window)
    fit = sps.linregress(x, y)
    slope = float(fit.slope)
    if fit.stderr > 0:
        t = sign * slope / fit.stderr
        p_improving = float(sps.t.sf(t, len(x) - 2))
    else:  # a perfectly straight line: improving exactly when it goes the better way
        p_improving = 0.0 if sign * slope > 0 else 1.0
    smoothed = np.convolve(y_all, np.ones(3) / 3, mode="valid")
    best_smoothed = float(smoothed[int(np.argmax(sign * smoothed))])
    end = float(fit.intercept + slope * x[-1])  # where the trend ends: less noisy than the last value
    worse_by = sign * (best_smoothed - end) / abs(best_smoothed) if best_smoothed != 0 else sign * (best_smoothed - end)
    if best_epoch < window[1] and worse_by > margin:
        verdict: TrendVerdict = "regressing"
    elif p_improving < alpha:
        verdict = "still improving"
    elif sign * slope * (x[-1] - x[0]) > margin * abs(end):
        verdict = "too short"  # it still moves, but too few evaluations tell that from noise
    else:
        verdict = "plateaued"
    return Trend(verdict, metric, slope, p_improving, best, best_epoch, last, window)


def run_trend(records: Iterable[dict[str, Any]], best_by: tuple[str, bool]) -> Trend:
    """The verdict on a run's evaluation curve: the metric `best_by` = (name, higher is better)
    of its metrics.jsonl `eval` records, by epoch (the dataset's best-by metric, which also picks
    the best checkpoint)."""
    metric, higher = best_by
    curve = {
        int(r["epoch"]): float(r[metric])
        for r in records
        if r.get("kind") == "eval" and isinstance(r.get(metric), (int, float)) and isinstance(r.get("epoch"), int)
    }  # a resumed run may have logged an epoch again: the last record of an epoch wins
    epochs = sorted(curve)
    return trend(epochs, [curve[e] for e in epochs], metric, higher)


ADVICE: dict[str, str] = {
    "still improving": "under-trained: more epochs would likely help",
    "plateaued": "more epochs at this setting would not help much",
    "regressing": "past its best: training longer made it worse",
    "too short": "too few evaluations to tell",
}


def trend_text(fields: dict[str, Any]) -> str:
    """A run's trend in one short line (`Trend.to_json` fields, as run.json holds them): the
    verdict and the numbers it rests on; `ADVICE[verdict]` says what it means."""
    verdict, metric = fields.get("verdict", "too short"), fields.get("metric", "")
    first, last_epoch = (fields.get("window") or [0, 0])[:2]
    slope, p = fields.get("slope_per_epoch"), fields.get("p_improving")
    best, best_epoch, last = fields.get("best"), fields.get("best_epoch"), fields.get("last")
    if slope is None or p is None:
        return f"too short: fewer than 3 evaluations of {metric}"
    if verdict == "too short":
        return f"too short: {metric} {slope:+.3g}/epoch in epochs {first}-{last_epoch}, not significant ({fmt_p(p)})"
    if verdict == "regressing":
        return f"regressing: {metric} {last:.4g} at the end, best {best:.4g} at epoch {best_epoch}"
    text = f"{verdict}: {metric} {slope:+.3g}/epoch in epochs {first}-{last_epoch} ({fmt_p(p)})"
    return text + (f", best {best:.4g} at epoch {best_epoch}" if verdict == "plateaued" else "")


def fmt_p(p: float) -> str:
    """'p 0.042', or 'p < 0.001' below that (a straight line's p is exactly 0 or 1)."""
    return "p < 0.001" if p < 0.001 else f"p {p:.2g}"
