"""`Monitors`: feeds the detectors, keeps their history (in each checkpoint), and turns what they
find into episodes (`Event`s) and the action the run owes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from ganlab.config import MonitorConfig
from ganlab.train.monitors.evaluations import REGRESSION_TOLERANCE, check_memorisation, check_regression
from ganlab.train.monitors.events import STATUS, Event, Signal, health
from ganlab.train.monitors.samples import SampleStats, check_collapse, check_imbalance
from ganlab.train.monitors.steps import (
    STEP_INPUTS,
    check_divergence,
    check_oscillation,
    d_wins,
    d_wins_signal,
    span_variance,
)


class Monitors:
    """Feeds the detectors, keeps their history, and turns what they find into `Event`s.

    Args:
        config: the `monitor:` section.
        names: the names of the per-step stats' columns, as the objective logs them. Detectors
            look their inputs up by name (`STEP_INPUTS`), ignore other names, and are off when
            their inputs are absent.
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
        self.d_wins_on = all(name in self.names for name in STEP_INPUTS["d-wins"])
        self.losses = [name for name in STEP_INPUTS["oscillation"] if name in self.names]
        self.span_windows = max(1, round(config.oscillation_span / config.every))
        self.history_windows = max(1, round(config.oscillation_history / config.every))
        self.records: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.epoch_start: tuple[int, int] | None = None  # (epoch, its first step - 1), see begin_epoch
        self._reset()

    def _reset(self) -> None:
        self.seen_step = 0
        self.pending: list[list[float]] = []  # rows of the window being filled
        self.windows: list[list[float]] = []  # the last span's windows: loss means, then variances
        self.spans: list[list[float]] = []  # earlier span variances (one per loss), after warmup
        self.d_wins_steps = 0
        self.best_modes = 0
        self.low_modes = 0  # ring: probes in a row with modes covered `ring_mode_drop` below best
        self.recent_kl: list[float] = []  # MNIST: the last probes' class_kl, for partial collapse
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
        by_signal = {s.signal: s for s in found}
        events = [e for key in SampleStats._fields for e in self._update(step, f"collapse/{key}", by_signal.get(key))]
        if stats.class_kl is not None:
            self.recent_kl = (self.recent_kl + [stats.class_kl])[-self.config.class_kl_probes :]
            imbalance = check_imbalance(self.recent_kl, self.config) if step >= self.config.warmup_steps else None
            events += self._update(step, "imbalance", imbalance)
        return events

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
        """D-wins and oscillation on a whole window of `every` steps (rows) ending at `step`."""
        medians = dict(zip(self.names, np.median(rows, axis=0).tolist()))
        signal = None
        if self.d_wins_on:
            self.d_wins_steps = self.d_wins_steps + len(rows) if d_wins(medians, self.config) else 0
            signal = d_wins_signal(medians, self.d_wins_steps, self.config)
        events = self._update(step, "d-wins", signal)

        if not self.losses:
            return events
        losses = rows[:, [self.names.index(name) for name in self.losses]]
        self.windows = (self.windows + [losses.mean(0).tolist() + losses.var(0).tolist()])[-self.span_windows :]
        if step < self.config.warmup_steps or len(self.windows) < self.span_windows:
            return events
        k = len(self.losses)
        stats = np.array(self.windows)
        current = span_variance(stats[:, :k], stats[:, k:])
        # Baseline: spans that do not overlap the current one, within the history.
        earlier = np.array(self.spans[: -self.span_windows] if len(self.spans) > self.span_windows else [])
        self.spans = (self.spans + [current.tolist()])[-(self.history_windows + self.span_windows) :]
        record: dict[str, Any] = {}
        for i, name in enumerate(self.losses):
            found = None
            if len(earlier) >= self.span_windows:
                found = check_oscillation(float(current[i]), earlier[:, i], self.config.oscillation_factor, name)
                baseline = float(np.median(earlier[:, i]))
                record[f"{name}_variance_ratio"] = float(current[i]) / baseline if baseline > 0 else None
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
        """The most severe status among the open episodes (see `ganlab.train.monitors.events`)."""
        return health([e for e in self.events if e.is_open])

    @property
    def health_worst(self) -> str:
        """The most severe status any episode had, open or closed."""
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
        """The `{"kind": "monitor", ...}` metric records collected since the last drain."""
        records, self.records = self.records, []
        return records

    def drain_notes(self) -> list[str]:
        """The lines saying an episode has ended, collected since the last drain."""
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
            "recent_kl": self.recent_kl,
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
        self.recent_kl = list(state.get("recent_kl", []))  # likewise
        self.evals_from, self.open, self.action = state["evals_from"], dict(state["open"]), state["action"]
        self.rollbacks = state["rollbacks"]
        self.events = [Event.from_json(e) for e in state["events"]]
        start = state.get("epoch_start")  # absent from checkpoints before it existed
        self.epoch_start = tuple(start) if start is not None else None
