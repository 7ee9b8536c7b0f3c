"""Online failure diagnosis: say, while a run trains, what is going wrong and since when.

The study saw both losses drop and then swing while the generator drew garbage, and noted that
losses alone cannot show sample quality. So the monitors watch three inputs, each at its own
cadence (all numbers are fields of the config's `monitor:` section, `MonitorConfig`):

every `every` steps, the window's per-step stats (one host sync) and the norm of all weights:
  divergence    a NaN/inf loss, D output, gradient norm or weight; or the window's median gradient
                norm of D or G above `grad_norm_max` (1000). ganhacks says "above ~100"; our healthy
                2-D ring runs already reach G gradient norms of 60-90 (non-saturating G loss with a
                confident D), so 100 would fire on them, and a too-high learning rate gives 1e4+.
  d-wins        window medians of the D loss below `d_wins_loss` (0.1), D(x) above
                `d_wins_real` (0.9) and D(G(z)) below `d_wins_fake` (0.1), for `d_wins_steps`
                (500) steps in a row. Our runs otherwise sit at D loss 0.3-0.6 (ring) or 0.15-0.45
                (fc on MNIST), D(x) 0.55-0.93; below 0.1 D tells almost every sample apart and G
                gets no useful signal. Medians, not
                means: in the baseline's D-wins phase (D loss 0.000 for 400 steps) a single
                spike of one step would otherwise break the streak.
  oscillation   a loss's variance over the last `oscillation_span` (500) steps above
                `oscillation_factor` (10) times its median over the `oscillation_history` (2500)
                steps before (a 3.2x larger standard deviation). The variance counts both spikes
                within a window and swings between windows (law of total variance). The baseline
                is the run's own recent level, so the slow rise of a healthy G loss does not fire.
                Measured: healthy ring runs peak at 2.7x (6 seeds); the fc baseline's D-wins phase
                on MNIST (D loss 0.000, G loss swinging 3.5 -> 10 -> 3.5) reaches 6.7x, and is
                caught by d-wins.

every `sample_every` (500) steps, a batch of `sample_size` (500) samples drawn from fixed noise
(its own torch.Generator: the training RNG never moves, so a resumed run stays bit-identical):
  collapse      diversity, the samples' mean pairwise distance (evaluator features for MNIST, or
                pixels when the evaluator weights are missing; the points for the ring) below
                `diversity_min` (0.5) of the same for real data; MNIST: fewer than `min_classes`
                (8) evaluator classes covered (each class needs a tenth of its uniform share), or
                class-histogram entropy below `class_entropy_min` (1.5 nats, about 4.5 equally
                likely classes; uniform over 10 is 2.30); ring: modes covered `ring_mode_drop` (3)
                below the run's best so far at `ring_mode_patience` (2) probes in a row.
                Measured: 500 real test digits score diversity 0.98, 10 classes, entropy 2.29;
                the test digits of one class alone 0.26-0.48 (so 0.5 is "no more diverse than a
                single digit"), of two classes 0.59, of six 0.96 with entropy 1.80. Ring runs
                (seeds 0-5, 3,000 steps) keep diversity at 0.77-1.03; counted on 500 samples, their
                modes hop by up to 3 between probes (seed 1: 5 8 5 7; seed 5: 7 6 4 5), hence the
                patience, while seed 2 settles at 4 of 8 from step 2,000 on, a real partial
                collapse that fires at step 2,500; `fail-collapse` falls to 0 modes and diversity
                0.01-0.15 by step 1,000.

at each evaluation (`train.eval_every`):
  regression    the metric the best checkpoint is chosen by (FID; ring: high_quality) worse than
                its best by more than `regression_tolerance` (relative) for `regression_evals` (3)
                evaluations in a row after the best. The tolerance defaults to the metric's own
                (`REGRESSION_TOLERANCE`): 20% for FID; 50% for the ring's high_quality, which
                swings 2-3x between epochs of healthy runs (0.14 -> 0.04 -> 0.15 -> 0.24).
  memorisation  the `memorisation` score (add it to `train.eval_metrics`) below
                `memorisation_min` (0.8): samples lie much closer to the training images than
                unseen test images do (real data scores about 1).

Collapse and oscillation give no verdict during the first `warmup_steps` (1000): an untrained
generator draws one blob, and early losses swing as the two nets find each other.

Each event is an episode: a monitor fires when its condition starts to hold (`step`), and the
episode closes at the first later check where it no longer holds (`until_step`); it can then fire
again. A rollback closes every open episode. Statuses, most severe first (`HEALTH_ORDER`):

    diverged > collapsed > d-wins > regressed > memorised > unstable > healthy

(divergence, collapse, d-wins, regression, memorisation and oscillation give them, in that order;
a NaN outranks everything because nothing after it means anything). The run has two:

    health        the most severe status among the episodes still open: what is wrong now, and
                  at the end of the run (a run stopped by a monitor keeps that monitor's status);
                  "healthy" when none is open.
    health_worst  the most severe status any episode had, open or closed; "healthy" if none fired.

So a generator that collapses in epoch 3 and recovers by epoch 6 ends "healthy", with
`health_worst` "collapsed" and the episode in `events`.

run.json holds `health`, `health_worst` (str) and `events`, a list of `Event.to_json()` dicts:

    {"step": 1000, "epoch": 3, "x": 2.132, "monitor": "collapse", "signal": "classes_covered",
     "value": 1.0, "threshold": 8.0, "status": "collapsed", "action": "warn",
     "message": "1 of 10 classes covered (< 8)", "until_step": 2500, "until_x": 5.33}

`x` and `until_x` are positions in epochs (step / steps per epoch), as on the loss plot's x axis;
`until_step` and `until_x` are null while the episode is open. `value` is a number, or "nan",
"inf" or "-inf" for non-finite values (run.json stays strict JSON); `threshold` is a number or null
(non-finite checks have none). `action` is what the run did: "warn", "stop", "rollback" or
"keep-best". Events are in the order they fired.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

from ganlab.config import MonitorConfig, RunConfig
from ganlab.data.datasets import ring_mode_stats, unscale
from ganlab.models.noise import sample_noise

# Run statuses, most severe first; the run's health is the first one any event has.
HEALTH_ORDER = ("diverged", "collapsed", "d-wins", "regressed", "memorised", "unstable", "healthy")
STATUS = {
    "divergence": "diverged",
    "collapse": "collapsed",
    "d-wins": "d-wins",
    "regression": "regressed",
    "memorisation": "memorised",
    "oscillation": "unstable",
}
# Default regression tolerance per best-by metric (relative to the best value).
REGRESSION_TOLERANCE = {"fid": 0.2, "high_quality": 0.5}
# The probe's fixed noise comes from its own generator with this seed.
MONITOR_SEED = 4242


class Signal(NamedTuple):
    """What a detector found: which signal, its value, the threshold it crossed, and why."""

    monitor: str
    signal: str
    value: float
    threshold: float | None
    message: str


@dataclass(frozen=True)
class Event:
    """A monitor's episode, from `step` (in `epoch`, at `x` epochs) to `until_step` (None while
    it lasts): see the module docstring."""

    step: int
    epoch: int
    x: float
    monitor: str
    signal: str
    value: float
    threshold: float | None
    message: str
    status: str
    action: str = "warn"
    until_step: int | None = None
    until_x: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["value"] = _json_number(self.value)
        out["threshold"] = None if self.threshold is None else _json_number(self.threshold)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        return cls(**{**data, "value": float(data["value"])})

    def line(self) -> str:
        """The warning line: step, signal, value and the resulting status."""
        return f"step {self.step} (epoch {self.epoch}): {self.monitor}: {self.message} -> {self.status}"

    @property
    def is_open(self) -> bool:
        return self.until_step is None


def _json_number(value: float) -> float | str:
    return float(value) if math.isfinite(value) else str(float(value))


def health(events: Sequence[Event]) -> str:
    """The most severe status among `events` by `HEALTH_ORDER`; "healthy" if there are none.
    The run's `health` is that of its open episodes, `health_worst` that of all of them."""
    return min((e.status for e in events), key=HEALTH_ORDER.index, default="healthy")


# Detectors: pure functions over arrays -------------------------------------------------------


def check_divergence(window: Mapping[str, np.ndarray], weight_norm: float, grad_norm_max: float) -> Signal | None:
    """NaN/inf in any per-step stat (n,) or in the norm of all weights; or a median gradient norm
    of D or G over the window above `grad_norm_max`."""
    for name, values in window.items():
        bad = ~np.isfinite(values)
        if bad.any():
            value = float(values[bad][0])
            message = f"{name} is {value} ({int(bad.sum())} of {len(values)} steps)"
            return Signal("divergence", name, value, None, message)
    if not math.isfinite(weight_norm):
        return Signal("divergence", "weight_norm", weight_norm, None, f"a weight is {weight_norm}")
    for name in ("d_grad_norm", "g_grad_norm"):
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


def mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of distinct rows of x (n, d), n >= 2."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    squared = (x * x).sum(1)
    d2 = np.clip(squared[:, None] + squared[None, :] - 2.0 * (x @ x.T), 0.0, None)
    n = len(x)
    return float(np.sqrt(d2).sum() / (n * (n - 1)))


def class_stats(probs: np.ndarray) -> tuple[int, float]:
    """(classes covered, entropy in nats) of the argmax-class histogram of probs (N, C).

    A class is covered with at least a tenth of its uniform share of the N samples.
    """
    from ganlab.metrics.classes import class_counts, classes_covered, default_min_count

    counts = class_counts(np.asarray(probs).argmax(1), probs.shape[1])
    p = counts[counts > 0] / counts.sum()
    entropy = max(0.0, float(-(p * np.log(p)).sum()))  # not -0.0 for one class
    return classes_covered(counts, default_min_count(len(probs), probs.shape[1])), entropy


class SampleStats(NamedTuple):
    """What the probe measured on a sample batch; None where it does not apply."""

    diversity: float  # samples' mean pairwise distance / real data's
    classes_covered: int | None = None  # MNIST with the evaluator
    class_entropy: float | None = None  # nats
    modes_covered: int | None = None  # the ring


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


# The state machine -----------------------------------------------------------------------------


class Monitors:
    """Feeds the detectors, keeps their history, and turns what they find into `Event`s.

    Args:
        config: the `monitor:` section.
        names: the names of the per-step stats' columns (the trainer's `STATS`).
        steps_per_epoch: to place events in epochs.
        best_by: (metric name, higher is better) of the best checkpoint, for regression.

    `action` is the action the run owes (None, "stop", "rollback" or "keep-best"); the trainer
    carries it out and calls `rolled_back` or leaves it set when the run ends. `records` collects
    `{"kind": "monitor", ...}` metric records (the signals behind the verdicts) and `notes` the
    lines saying an episode has ended, until drained.
    """

    def __init__(
        self, config: MonitorConfig, names: Sequence[str], steps_per_epoch: int, best_by: tuple[str, bool]
    ) -> None:
        self.config = config
        self.names = tuple(names)
        self.steps_per_epoch = steps_per_epoch
        self.best_by = best_by
        self.span_windows = max(1, round(config.oscillation_span / config.every))
        self.history_windows = max(1, round(config.oscillation_history / config.every))
        self.records: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.epoch_start: tuple[int, int] | None = None  # (epoch, its first step - 1), see begin_epoch
        self._reset()

    def _reset(self) -> None:
        self.seen_step = 0
        self.pending: list[list[float]] = []  # rows of the window being filled
        self.windows: list[list[float]] = []  # the last span's windows: d, g loss means then variances
        self.spans: list[list[float]] = []  # earlier span variances (d, g), after warmup
        self.d_wins_steps = 0
        self.best_modes = 0
        self.low_modes = 0  # ring: probes in a row with modes covered `ring_mode_drop` below best
        self.evals: list[float] = []
        self.evals_from = 0  # evaluations before this index (a rollback) do not count as recent
        self.open: dict[str, int] = {}  # "monitor/signal" key -> index in `events` of its open episode
        self.events: list[Event] = []
        self.action: str | None = None
        self.rollbacks = 0

    # -- inputs -------------------------------------------------------------------------------

    def begin_epoch(self, epoch: int, steps_before: int) -> None:
        """Place what follows in `epoch`, whose first step is `steps_before + 1`. Without it, steps
        are placed as if every epoch had `steps_per_epoch` steps, which an epoch cut short by an
        action (and the rollback after it) breaks."""
        self.epoch_start = (epoch, steps_before)

    def observe_steps(self, rows: np.ndarray, weight_norm: float) -> list[Event]:
        """Per-step stats (n, len(names)) of the n steps after `seen_step`, and the weights' norm."""
        first = self.seen_step + 1
        self.seen_step += len(rows)
        if not self.config.enabled or len(rows) == 0:
            return []
        window = {name: rows[:, i] for i, name in enumerate(self.names)}
        found = check_divergence(window, weight_norm, self.config.grad_norm_max)
        events = self._update(self.seen_step, "divergence", found)
        for i, row in enumerate(rows):
            self.pending.append([float(v) for v in row])
            if len(self.pending) == self.config.every:
                events += self._window(first + i, np.array(self.pending))
                self.pending = []
        return events

    def observe_samples(self, step: int, stats: SampleStats) -> list[Event]:
        """What the probe measured on a sample batch at `step`."""
        if not self.config.enabled:
            return []
        self.records.append(self._record(step) | {k: v for k, v in stats._asdict().items() if v is not None})
        found = check_collapse(stats, self.best_modes, self.config) if step >= self.config.warmup_steps else []
        if stats.modes_covered is not None:
            self.best_modes = max(self.best_modes, stats.modes_covered)
            low = any(s.signal == "modes_covered" for s in found)
            self.low_modes = self.low_modes + 1 if low else 0
            if low and self.low_modes < self.config.ring_mode_patience:  # mode hopping, so far
                found = [s for s in found if s.signal != "modes_covered"]
        keys = ("diversity", "classes_covered", "class_entropy", "modes_covered")
        by_signal = {s.signal: s for s in found}
        return [e for key in keys for e in self._update(step, f"collapse/{key}", by_signal.get(key))]

    def observe_eval(self, step: int, scores: Mapping[str, float]) -> list[Event]:
        """The scores of a periodic evaluation at `step`."""
        if not self.config.enabled:
            return []
        events = []
        name, higher = self.best_by
        if name in scores:
            self.evals.append(float(scores[name]))
            recent = self.evals[self.evals_from :]
            count = self.config.regression_evals
            signal = None
            if len(recent) >= count:  # only evaluations since the last rollback are "recent"
                tolerance = self.config.regression_tolerance or REGRESSION_TOLERANCE.get(name, 0.2)
                signal = check_regression(self.evals, higher, tolerance, count, name)
            events += self._update(step, "regression", signal)
        if "memorisation" in scores:
            found = check_memorisation(scores["memorisation"], self.config.memorisation_min)
            events += self._update(step, "memorisation", found)
        return events

    # -- window detectors ---------------------------------------------------------------------

    def _window(self, step: int, rows: np.ndarray) -> list[Event]:
        medians = dict(zip(self.names, np.median(rows, axis=0).tolist()))
        self.d_wins_steps = self.d_wins_steps + len(rows) if d_wins(medians, self.config) else 0
        signal = None
        if self.d_wins_steps >= self.config.d_wins_steps:
            message = (
                f"median D loss {medians['d_loss']:.3g} (< {self.config.d_wins_loss:g}), "
                f"D(x) {medians['d_real']:.3f}, D(G(z)) {medians['d_fake']:.3f}, for {self.d_wins_steps} steps"
            )
            signal = Signal("d-wins", "d_loss", medians["d_loss"], self.config.d_wins_loss, message)
        events = self._update(step, "d-wins", signal)

        losses = rows[:, [self.names.index("d_loss"), self.names.index("g_loss")]]
        self.windows = (self.windows + [losses.mean(0).tolist() + losses.var(0).tolist()])[-self.span_windows :]
        if step < self.config.warmup_steps or len(self.windows) < self.span_windows:
            return events
        stats = np.array(self.windows)
        current = span_variance(stats[:, :2], stats[:, 2:])
        # Baseline: spans that do not overlap the current one, within the history.
        earlier = np.array(self.spans[: -self.span_windows] if len(self.spans) > self.span_windows else [])
        self.spans = (self.spans + [current.tolist()])[-(self.history_windows + self.span_windows) :]
        record: dict[str, Any] = {}
        for k, name in enumerate(("d_loss", "g_loss")):
            found = None
            if len(earlier) >= self.span_windows:
                found = check_oscillation(float(current[k]), earlier[:, k], self.config.oscillation_factor, name)
                baseline = float(np.median(earlier[:, k]))
                record[f"{name}_variance_ratio"] = float(current[k]) / baseline if baseline > 0 else None
            events += self._update(step, f"oscillation/{name}", found)
        if record:
            self.records.append(self._record(step) | record)
        return events

    # -- events -------------------------------------------------------------------------------

    def _position(self, step: int) -> tuple[int, float]:
        """(epoch, x) of a step, x in epochs as the trainer's step records have it."""
        if self.epoch_start is None:
            return max(1, -(-step // self.steps_per_epoch)), step / self.steps_per_epoch
        epoch, before = self.epoch_start
        return epoch, epoch - 1 + (step - before) / self.steps_per_epoch

    def _record(self, step: int) -> dict[str, Any]:
        epoch, x = self._position(step)
        return {"kind": "monitor", "epoch": epoch, "step": step, "x": x}

    def _update(self, step: int, key: str, signal: Signal | None) -> list[Event]:
        """Open an episode (fire an event) when `key`'s condition starts to hold; close it at the
        first check where it does not."""
        if signal is None:
            if key in self.open:
                event = self._close(key, step)
                self.notes.append(f"step {step}: {event.monitor} ({event.signal}) has cleared, since step {event.step}")
            return []
        if key in self.open:
            return []
        status = STATUS[signal.monitor]
        action = "warn"
        if status in self.config.act_on and self.config.action != "warn":
            action = self.config.action
        elif signal.monitor == "divergence" and signal.threshold is None:
            action = "stop"  # a NaN never recovers: there is nothing left to warn about
        if action == "rollback" and self.rollbacks >= self.config.max_rollbacks:
            action = "keep-best"
        if action != "warn" and self.action is None:
            self.action = action
        epoch, x = self._position(step)
        event = Event(
            step=step,
            epoch=epoch,
            x=round(x, 4),
            monitor=signal.monitor,
            signal=signal.signal,
            value=float(signal.value),
            threshold=None if signal.threshold is None else float(signal.threshold),
            message=signal.message,
            status=status,
            action=action,
        )
        self.open[key] = len(self.events)
        self.events.append(event)
        return [event]

    def _close(self, key: str, step: int) -> Event:
        index = self.open.pop(key)
        self.events[index] = replace(self.events[index], until_step=step, until_x=round(self._position(step)[1], 4))
        return self.events[index]

    @property
    def health(self) -> str:
        """The most severe status among the open episodes (see the module docstring)."""
        return health([e for e in self.events if e.is_open])

    @property
    def health_worst(self) -> str:
        return health(self.events)

    def rolled_back(self) -> float:
        """Close every episode and forget the failing stretch after a rollback; returns the
        learning-rate scale to use now."""
        self.rollbacks += 1
        self.action = None
        for key in list(self.open):
            self._close(key, self.seen_step)
        self.pending, self.windows, self.spans = [], [], []
        self.d_wins_steps = 0
        self.evals_from = len(self.evals)
        return self.config.rollback_lr_factor**self.rollbacks

    def drain_records(self) -> list[dict[str, Any]]:
        records, self.records = self.records, []
        return records

    def drain_notes(self) -> list[str]:
        notes, self.notes = self.notes, []
        return notes

    # -- state (kept in each checkpoint, so a resumed run continues the same history) ----------

    def state_dict(self) -> dict[str, Any]:
        """Everything the detectors remember, JSON-able, for the checkpoint (a resumed run goes on
        as if it had never stopped)."""
        return {
            "seen_step": self.seen_step,
            "pending": self.pending,
            "windows": self.windows,
            "spans": self.spans,
            "d_wins_steps": self.d_wins_steps,
            "best_modes": self.best_modes,
            "low_modes": self.low_modes,
            "evals": self.evals,
            "evals_from": self.evals_from,
            "open": self.open,
            "events": [e.to_json() for e in self.events],
            "action": self.action,
            "rollbacks": self.rollbacks,
            "epoch_start": self.epoch_start,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` saved."""
        self._reset()
        for key in ("seen_step", "pending", "windows", "spans", "d_wins_steps", "best_modes", "evals"):
            setattr(self, key, state[key])
        self.low_modes = state.get("low_modes", 0)  # absent from checkpoints before it existed
        self.evals_from, self.open, self.action = state["evals_from"], dict(state["open"]), state["action"]
        self.rollbacks = state["rollbacks"]
        self.events = [Event.from_json(e) for e in state["events"]]
        start = state.get("epoch_start")  # absent from checkpoints before it existed
        self.epoch_start = tuple(start) if start is not None else None


# The sample probe ------------------------------------------------------------------------------


class SampleProbe:
    """Draws a batch from fixed noise and measures its diversity, classes or ring modes.

    Args:
        config: the run's config (noise, dataset, scaling, `monitor.sample_size`).
        real: real data in display units, `sample_size` of it (or less): images float
            (N, 1, 28, 28) in [0, 1] (or uint8), or the ring's points (N, 2).
        device: where G runs.
        evaluator: the MNIST evaluator, or None (the ring; or missing weights: then diversity is
            measured on pixels and classes are not checked).
    """

    def __init__(
        self, config: RunConfig, real: torch.Tensor, device: torch.device, evaluator: nn.Module | None = None
    ) -> None:
        self.config = config
        self.evaluator = evaluator
        n = config.monitor.sample_size
        generator = torch.Generator().manual_seed(MONITOR_SEED)
        self.z = sample_noise(n, config.noise, generator=generator).to(device)
        real = real[:n].float() / 255 if real.dtype == torch.uint8 else real[:n].float()
        self.real_diversity = mean_pairwise_distance(self._features(real)[0])

    def _features(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        if self.config.data.dataset == "ring" or self.evaluator is None:
            return x.detach().flatten(1).double().cpu().numpy(), None
        from ganlab.metrics.features import extract

        found = extract(x.clamp(0, 1), self.evaluator)
        return found.features, found.probs

    @torch.no_grad()
    def __call__(self, g: nn.Module) -> SampleStats | None:
        """Stats of G's batch; None when a sample is not finite (divergence reports that)."""
        was_training = g.training
        g.eval()
        try:
            x = g(self.z)
        finally:
            g.train(was_training)
        if not torch.isfinite(x).all():
            return None
        if self.config.data.dataset == "ring":
            modes = int(ring_mode_stats(x.float().cpu())["modes_covered"])
            return SampleStats(mean_pairwise_distance(self._features(x)[0]) / self.real_diversity, modes_covered=modes)
        features, probs = self._features(unscale(x, self.config.data.scaling))
        diversity = mean_pairwise_distance(features) / self.real_diversity
        if probs is None:
            return SampleStats(diversity)
        covered, entropy = class_stats(probs)
        return SampleStats(diversity, classes_covered=covered, class_entropy=entropy)
