"""Training curves from `metrics.jsonl` records, and `PlotWriter`, which draws them as a run trains."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Iterable, Sequence

from ganlab.config import RunConfig
from ganlab.files import atomic_write_bytes
from ganlab.rundir import RunDir
from ganlab.train.hooks import EpochResult


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


# Event colours by run status (see `ganlab.train.monitors.HEALTH_ORDER`).
STATUS_COLOURS = {
    "diverged": "#d62728",
    "collapsed": "#9467bd",
    "d-wins": "#8c564b",
    "partial-collapse": "#ff7f0e",
    "regressed": "#e377c2",
    "memorised": "#17becf",
    "unstable": "#bcbd22",
}


def mark_events(ax: Any, events: Sequence[dict[str, Any]], label: bool = True) -> None:
    """Dashed vertical lines at monitor events (run.json `events`: `x` in epochs, `monitor`,
    `signal`, `status`, `action`, `until_x`), each labelled at the top with its monitor, signal and
    any action beyond a warning (unless it would overprint the previous label), and shaded up to
    `until_x` where the episode ended; one legend entry per status."""
    seen: set[str] = set()
    low, high = ax.get_xlim()
    last_label = -float("inf")
    for event in events:
        colour = STATUS_COLOURS.get(event["status"], "#7f7f7f")
        legend = event["status"] if event["status"] not in seen else None
        seen.add(event["status"])
        ax.axvline(event["x"], color=colour, ls="--", lw=1.2, alpha=0.8, label=legend)
        if event.get("until_x") is not None:  # the episode ended: shade how long it lasted
            ax.axvspan(event["x"], event["until_x"], color=colour, alpha=0.08, lw=0)
        if label and event["x"] - last_label >= 0.05 * (high - low):  # room for a label, rotated
            last_label = event["x"]
            ax.annotate(
                f"{event['monitor']}: {event['signal']}"
                + (f" -> {event['action']}" if event.get("action", "warn") != "warn" else ""),
                (event["x"], 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -2),
                textcoords="offset points",
                rotation=90,
                va="top",
                fontsize=7,
                color=colour,
            )


def plot_losses(
    records: Iterable[dict[str, Any]], path: Path, title: str = "", events: Sequence[dict[str, Any]] = ()
) -> None:
    """D and G loss per epoch (bold) over the per-step values (faint), and D's outputs.

    The x axis is in epochs; per-step records sit at `epoch - 1 + fraction of the epoch done`.
    Monitor `events` (run.json's) are marked as dashed vertical lines on both panels.
    """
    steps = [r for r in records if r["kind"] in ("step", "epoch")]
    per_step = [r for r in steps if r["kind"] == "step"]
    per_epoch = [r for r in steps if r["kind"] == "epoch"]
    plt = pyplot()
    fig, (ax_loss, ax_prob) = plt.subplots(1, 2, figsize=(11, 3.8), dpi=90)
    for key, colour, label in (("d_loss", "#1f77b4", "discriminator"), ("g_loss", "#ff7f0e", "generator")):
        if per_step:
            ax_loss.plot([r["x"] for r in per_step], [r[key] for r in per_step], color=colour, alpha=0.2, lw=0.6)
        ax_loss.plot(
            [r["epoch"] for r in per_epoch], [r[key] for r in per_epoch], color=colour, lw=2, marker=".", label=label
        )
    ax_loss.set(xlabel="epoch", ylabel="loss", title=title or "losses")
    mark_events(ax_loss, events)
    ax_loss.legend()
    # D's mean outputs: probabilities, or a critic's raw scores (losses such as hinge).
    probabilities = not per_epoch or "d_real" in per_epoch[0]
    outputs = ("d_real", "d_fake") if probabilities else ("critic_real", "critic_fake")
    for key, colour, label in zip(outputs, ("#2ca02c", "#d62728"), ("mean D(x)", "mean D(G(z))")):
        ax_prob.plot([r["epoch"] for r in per_epoch], [r[key] for r in per_epoch], color=colour, lw=2, label=label)
    if probabilities:
        ax_prob.set(ylabel="probability", ylim=(-0.02, 1.02))
    ax_prob.set(xlabel="epoch", title="discriminator outputs" if probabilities else "critic scores")
    mark_events(ax_prob, events, label=False)
    ax_prob.legend()
    _save(fig, path)
    plt.close(fig)


def plot_metrics(
    records: Iterable[dict[str, Any]], path: Path, title: str = "", events: Sequence[dict[str, Any]] = ()
) -> None:
    """Each evaluated metric over epochs, one panel per metric (FID, coverage, ...), with monitor
    `events` marked as dashed vertical lines."""
    evals = [r for r in records if r["kind"] == "eval"]
    names = [k for k in evals[0] if k not in ("kind", "epoch", "step")] if evals else []
    plt = pyplot()
    fig, axes = plt.subplots(
        1, max(len(names), 1), figsize=(3.6 * max(len(names), 1), 3.4), dpi=90, squeeze=False, layout="constrained"
    )
    marker = "o" if len(evals) <= 60 else None  # hundreds of evaluations: a line reads better
    for ax, name in zip(axes[0], names):
        ax.plot([r["epoch"] for r in evals], [r[name] for r in evals], marker=marker, lw=2, color="#9467bd")
        ax.set(xlabel="epoch", title=name)
        ax.grid(alpha=0.3)
        mark_events(ax, events, label=ax is axes[0][0])
    if events:
        axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    _save(fig, path)
    plt.close(fig)


class PlotWriter:
    """A training hook (`ganlab.train.hooks.Hook`) that keeps `plots/losses.png` and
    `plots/metrics.png` of a run up to date after every epoch.

    The run's records are read once, here (those of a resumed run), and each epoch's new records
    are added to them in memory, so an epoch costs the drawing only, not a re-read of
    `metrics.jsonl`. The loss plot is drawn every epoch; the metric plot when the epoch was
    evaluated, or when it has monitor events to mark and the plot already exists.
    """

    def __init__(self, run: RunDir, config: RunConfig) -> None:
        self.run = run
        self.config = config
        self.history = run.read_metrics()

    def on_epoch(self, result: EpochResult) -> None:
        """Add the epoch's records to the history and redraw the plots."""
        if self.history and self.history[-1]["epoch"] >= result.epoch:
            # Read before a resume dropped the records past its checkpoint: drop them here too.
            self.history = [r for r in self.history if r["epoch"] < result.epoch]
        self.history += result.records
        plots, name = self.run.plots, self.config.name
        plot_losses(self.history, plots / "losses.png", title=f"{name}: losses", events=result.events)
        if result.scores or (result.events and (plots / "metrics.png").is_file()):
            plot_metrics(self.history, plots / "metrics.png", title=f"{name}: sample quality", events=result.events)

    def close(self) -> None:
        """Nothing to release: every plot is written whole when it is drawn."""
