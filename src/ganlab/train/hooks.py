"""What the loop tells the layers above it after each epoch: `EpochResult`, and the `Hook` protocol.

The training layer writes records, samples and checkpoints itself; anything else that follows a
run as it goes (loss and metric plots from the report layer, TensorBoard) is a hook that `train()`
is given, so training never imports the layers above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image


@dataclass(frozen=True)
class EpochResult:
    """One finished epoch: its new metrics records, the run's monitor events so far (JSON), the
    evaluation scores (empty when it did not evaluate) and the fixed-noise sample picture."""

    epoch: int
    step: int
    records: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    picture: Image.Image | None = None


class Hook(Protocol):
    """Follows a run: `on_epoch` after every epoch's files are written, `close` when it ends
    (complete, stopped or failed)."""

    def on_epoch(self, result: EpochResult) -> None: ...

    def close(self) -> None: ...
