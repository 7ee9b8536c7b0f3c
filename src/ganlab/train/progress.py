"""What the user sees while a run trains: a rich progress bar, plain log lines, or nothing."""

from __future__ import annotations

import sys
from typing import Sequence

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

# Reading the losses back costs a host sync, so the bar refreshes them only every few steps.
REFRESH_EVERY = 25
# The study's names for D's mean outputs, and the bar's short names of the losses, which keep an
# epoch line with its evaluation scores within 100 columns.
LABELS = {"d_real": "D(x)", "d_fake": "D(G(z))", "d_loss": "D", "g_loss": "G"}
SCORE_LABELS = {"classes_covered": "classes"}


class Progress:
    """mode: "bar" (rich), "plain" (one line per epoch), "quiet", or "auto" (bar on a terminal).

    The bar counts the steps of the epoch its label names; the lines above it are printed as
    they are (no timestamp or source location, no wrapping: a terminal narrower than a line
    wraps it itself).
    """

    def __init__(self, mode: str, total_epochs: int, done_epochs: int, steps_per_epoch: int):
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "plain"
        self.mode = mode
        self.total_epochs = total_epochs
        self.steps_per_epoch = steps_per_epoch
        self.done_epochs = done_epochs
        self.console = Console(stderr=True)
        self._steps = 0
        self._bar: RichProgress | None = None

    def __enter__(self) -> "Progress":
        if self.mode == "bar":
            self._bar = RichProgress(
                TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[losses]}"),
                console=self.console,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(
                "train",
                total=self.steps_per_epoch,
                epoch=min(self.done_epochs + 1, self.total_epochs),
                epochs=self.total_epochs,
                losses="",
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def step(self, stats: torch.Tensor, names: Sequence[str]) -> None:
        if self._bar is None:
            return
        self._steps += 1
        fields = {}
        if self._steps % REFRESH_EVERY == 0:
            values = dict(zip(names, stats.tolist()))
            fields["losses"] = f"D {values['d_loss']:.3f}  G {values['g_loss']:.3f}"
        self._bar.update(self._task, advance=1, **fields)

    def warn(self, message: str, label: str = "warning") -> None:
        """A monitor's line: logged above the bar, a plain stderr line, or nothing when quiet."""
        if self._bar is not None:
            style = "yellow" if label == "warning" else "green"
            self._print(f"{label}: {message}", style)
        elif self.mode != "quiet":
            print(f"{label}: {message}", file=sys.stderr, flush=True)

    def epoch_done(self, epoch: int, means: dict[str, float], scores: dict[str, float], seconds: float) -> None:
        """One line per epoch: the mean of each step statistic (the objective's, gradient norms
        aside), then the evaluation scores."""
        stats = (
            f"{LABELS.get(name, name)} {value:.4f}" if name.endswith("_loss") else f"{LABELS.get(name, name)} {value:.3f}"
            for name, value in means.items()
            if not name.endswith("_grad_norm")
        )
        line = f"epoch {epoch}/{self.total_epochs}  " + "  ".join(stats) + f"  {seconds:.1f}s"
        line += "".join(f"  {SCORE_LABELS.get(name, name)} {value:.3g}" for name, value in scores.items())
        if self._bar is not None:
            self._print(line)
            # reset() replaces every field: the losses stay until the next refresh
            fields = self._bar.tasks[self._task].fields | {"epoch": min(epoch + 1, self.total_epochs)}
            self._bar.reset(self._task, total=self.steps_per_epoch, **fields)
        elif self.mode == "plain":
            print(line, file=sys.stderr, flush=True)

    def _print(self, line: str, style: str | None = None) -> None:
        assert self._bar is not None
        self._bar.console.print(line, markup=False, highlight=False, style=style, soft_wrap=True)
