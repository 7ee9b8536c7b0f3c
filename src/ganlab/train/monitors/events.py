"""What the monitors report: `Signal`s from the detectors, `Event`s (episodes) and run statuses.

Each event is an episode: a monitor fires when its condition starts to hold (`step`), and the
episode closes at the first later check where it no longer holds (`until_step`); it can then fire
again. A rollback closes every open episode. Statuses, most severe first (`HEALTH_ORDER`):

    diverged > collapsed > d-wins > partial-collapse > regressed > memorised > unstable > healthy

(divergence, collapse, d-wins, imbalance, regression, memorisation and oscillation give them, in
that order;
a NaN outranks everything because nothing after it means anything). The run has two:

    health        the most severe status among the episodes still open: what is wrong now, and
                  at the end of the run (a run stopped by a monitor keeps that monitor's status);
                  "healthy" when none is open: no failure seen, which is not a verdict of
                  quality (`health_text` is how a user is told so).
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
from dataclasses import asdict, dataclass
from typing import Any, Mapping, NamedTuple, Sequence

# Run statuses, most severe first; the run's health is the first one any event has.
HEALTH_ORDER = ("diverged", "collapsed", "d-wins", "partial-collapse", "regressed", "memorised", "unstable", "healthy")
STATUS = {
    "divergence": "diverged",
    "collapse": "collapsed",
    "d-wins": "d-wins",
    "imbalance": "partial-collapse",
    "regression": "regressed",
    "memorisation": "memorised",
    "oscillation": "unstable",
}


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
        """The run.json dict: non-finite numbers as the strings "nan", "inf" or "-inf"."""
        out = asdict(self)
        out["value"] = _json_number(self.value)
        out["threshold"] = None if self.threshold is None else _json_number(self.threshold)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        """The event that `to_json` wrote."""
        return cls(**{**data, "value": float(data["value"])})

    def line(self) -> str:
        """The warning line: step, signal, value and the resulting status."""
        return f"step {self.step} (epoch {self.epoch}): {self.monitor}: {self.message} -> {self.status}"

    @property
    def is_open(self) -> bool:
        return self.until_step is None


def _json_number(value: float) -> float | str:
    return float(value) if math.isfinite(value) else str(float(value))


def health_text(status: str) -> str:
    """A status as a user reads it: "healthy" says only that no monitor saw a failure."""
    return "healthy (no failure seen)" if status == "healthy" else status


def health(events: Sequence[Event]) -> str:
    """The most severe status among `events` by `HEALTH_ORDER`; "healthy" if there are none.
    The run's `health` is that of its open episodes, `health_worst` that of all of them."""
    return min((e.status for e in events), key=HEALTH_ORDER.index, default="healthy")
