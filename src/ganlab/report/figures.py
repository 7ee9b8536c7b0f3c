"""Pictures and curves for the page, each embedded as a data URI (the page fetches nothing)."""

from __future__ import annotations

import base64
import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from ganlab.report.plots import mark_events, pyplot
from ganlab.report.runs import RunView

CONTROL_COLOUR, VARIANT_COLOUR = "#1f77b4", "#ff7f0e"
LOSS_KEYS = [("d_loss", "D loss"), ("g_loss", "G loss"), ("d_real", "mean D(x)"), ("d_fake", "mean D(G(z))")]

Side = tuple[str, str, list[RunView]]  # (label, colour, runs)


def data_uri(data: bytes, mime: str) -> str:
    """`data` inline, as a data: URI."""
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def png_uri(path: Path) -> str | None:
    """A PNG file as a data URI; None when it cannot be read."""
    try:
        return data_uri(path.read_bytes(), "image/png")
    except OSError:
        return None


def _figure_uri(fig: Any) -> str:
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return data_uri(buffer.getvalue(), "image/png")


def _series(runs: list[RunView], kind: str, key: str) -> list[tuple[list[float], list[float]]]:
    out = []
    for run in runs:
        points = [
            (float(r["epoch"]), float(r[key]))
            for r in run.records
            if r.get("kind") == kind and isinstance(r.get(key), (int, float)) and r.get("epoch") is not None
        ]
        if points:
            out.append(([p[0] for p in points], [p[1] for p in points]))
    return out


def _mean_series(series: list[tuple[list[float], list[float]]]) -> tuple[list[float], list[float]]:
    by_x: dict[float, list[float]] = defaultdict(list)
    for xs, ys in series:
        for x, y in zip(xs, ys):
            if math.isfinite(y):
                by_x[x].append(y)
    xs = sorted(by_x)
    return xs, [sum(by_x[x]) / len(by_x[x]) for x in xs]


def curves_plot(
    sides: list[Side],
    kind: str,
    keys: list[tuple[str, str]],
    floor: dict[str, float] | None = None,
    events: Sequence[dict[str, Any]] = (),
) -> str | None:
    """One panel per (key, title) of `kind` records ("epoch" or "eval"): every seed faint, the
    mean over seeds bold, one colour per side; a dashed line at the real-data floor when known,
    and dashed vertical lines at monitor `events` (one run's). None when no run has such records."""
    panels = [(key, title) for key, title in keys if any(_series(runs, kind, key) for _, _, runs in sides)]
    if not panels:
        return None
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    columns = min(len(panels), 4)
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.7 * rows), dpi=80, squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (key, title) in zip(axes.flat, panels):
        for label, colour, runs in sides:
            series = _series(runs, kind, key)
            for xs, ys in series:
                ax.plot(xs, ys, color=colour, alpha=0.3, lw=0.8)
            if series:
                xs, ys = _mean_series(series)
                ax.plot(xs, ys, color=colour, lw=2, marker="." if len(xs) < 40 else None, label=f"{label} (n={len(series)})")
        if floor and isinstance(floor.get(key), (int, float)):
            ax.axhline(floor[key], color="#555555", ls="--", lw=1, label="real data")
        mark_events(ax, events, label=False)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _figure_uri(fig)
