"""Static HTML reports of a study directory or a single run directory.

The page is one self-contained file: pictures, plots and GIFs are embedded as base64 data URIs,
the CSS is inline, there is no script, so it opens offline from the file system. Everything is
read back from run directories (`ganlab.report.runs`), so the report can be rebuilt at any time,
also while the study runs. Templates are Jinja2 with autoescaping on: every string from a run or
a spec is escaped.

    write_report(Path("studies/seed-study")).path     # -> studies/seed-study/report.html
    write_report(Path("runs/fc-20250101-1200")).path  # -> runs/fc-.../report.html
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ganlab.errors import GanlabError
from ganlab.files import atomic_write_text, read_json
from ganlab.metrics.trend import ADVICE, trend_text
from ganlab.names import arrow, fmt, metric_arrow
from ganlab.report.figures import CONTROL_COLOUR, LOSS_KEYS, curves_plot, data_uri, png_uri
from ganlab.report.gif import samples_gif
from ganlab.report.runs import RunView, eval_keys, load_run, log_tail
from ganlab.report.studies import study_views
from ganlab.study.power import power_text, seeds_needed
from ganlab.study.stats import NO_DIFFERENCE
from ganlab.version import __version__


def fmt_p(p: float) -> str:
    """A p-value for a table: '< 0.001' below that, else three decimals."""
    if p is None or math.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def power_cell(c: Any) -> str:
    """A comparison's power for the summary table: "likely < X" beside n.s., "detectable X"."""
    return power_text(c.detectable, c.verdict in ("better", "worse", "different")).replace("likely smaller than", "likely <")


def seeds_cell(c: Any) -> str:
    """Seeds per side that would detect the difference these seeds measured, when they did not
    call it significant: whether more seeds would help. "–" when already significant or unknown."""
    if c.verdict != NO_DIFFERENCE or c.difference == 0 or not (c.variant.std >= 0 and c.control.std >= 0):
        return "–"
    # Paired: the test of the differences is Welch's formula with one side of spread s_d and
    # the other none (df = n - 1).
    spreads = (c.diff_std, 0.0) if c.paired else (c.variant.std, c.control.std)
    n = seeds_needed(c.difference, *spreads, c.alpha, paired=c.paired)
    return "> 100" if n is None else str(n)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ganlab.report", "templates"),
        autoescape=True,  # every user-given string (names, claims, errors, logs) is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt, p=fmt_p, arrow=arrow, power=power_cell, seeds_for_difference=seeds_cell, trend_text=trend_text)
    env.globals["trend_advice"] = ADVICE
    return env


def _render(template: str, **context: Any) -> str:
    context.setdefault("generated", dt.datetime.now().astimezone().isoformat(timespec="seconds"))
    context.setdefault("version", __version__)
    return _environment().get_template(template).render(**context)


# The single-run page ---------------------------------------------------------------------------


def _metric_rows(run: RunView, floor: dict[str, float]) -> list[dict[str, Any]]:
    higher = run.higher_is_better
    return [
        {"name": name, "higher_is_better": higher.get(name), "value": value, "floor": floor.get(name)}
        for name, value in run.scores.items()
    ]


@dataclass(frozen=True)
class Report:
    """A report written: its file, and one line per damaged run it shows (path: what is wrong)."""

    path: Path
    damaged: list[str]


def _damaged(runs: list[RunView]) -> list[str]:
    return [f"{run.path}: {run.detail}" for run in runs if run.state == "damaged"]


def render_run(run_dir: Path, max_frames: int = 24) -> tuple[str, list[str]]:
    """The HTML page of one run directory, and its damage (see `Report`)."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file() and not (run_dir / "config.yaml").is_file():
        raise GanlabError(f"{run_dir} is neither a run directory (no run.json) nor a study directory (no study.yaml)")
    marker = read_json(run_dir / "study-run.json") or {}
    run = load_run(run_dir)
    if marker.get("state") == "failed" and run.state != "failed":
        run.state, run.detail = "failed", str(marker.get("error", ""))
        run.log_tail = log_tail(run_dir / "log.txt")
    gif = samples_gif(run_dir / "samples", max_frames)
    run.gif = data_uri(gif, "image/gif") if gif else None
    floor = dict((run.evaluation or {}).get("real_floor") or {})
    last = max(run.samples) if run.samples else None
    metric_keys = [(name, f"{name} {metric_arrow(name, run.higher_is_better)}".strip()) for name in eval_keys([run])]
    html = _render(
        "run.html.j2",
        title=f"{run.name}: run report",
        run=run,
        metrics=_metric_rows(run, floor),
        floor=floor,
        floor_n=(run.evaluation or {}).get("n"),
        last_epoch=last,
        last_samples=png_uri(run.samples[last]) if last is not None else None,
        loss_plot=curves_plot([(run.name, CONTROL_COLOUR, [run])], "epoch", LOSS_KEYS, events=run.events),
        metric_plot=curves_plot([(run.name, CONTROL_COLOUR, [run])], "eval", metric_keys, floor, run.events),
    )
    return html, _damaged([run])


# The study page and the file -------------------------------------------------------------------


def render_study(study_dir: Path, max_frames: int = 12) -> tuple[str, list[str]]:
    """The HTML page of a study directory, and the damage of its runs (see `Report`)."""
    views = study_views(Path(study_dir), pictures=True, max_frames=max_frames)
    html = _render("study.html.j2", title=f"{views['spec'].name}: study report", study_dir=str(study_dir), **views)
    return html, _damaged(views["runs"])


def write_report(path: Path, out: Path | None = None, max_frames: int | None = None) -> Report:
    """Write the report of a study directory (with study.yaml) or a run directory (with
    run.json) to `out`, default PATH/report.html. A damaged run is shown as such, and named in
    the returned `Report`. `max_frames` per
    sample GIF defaults to 12 for a study (one GIF per run) and 24 for a single run."""
    path = Path(path)
    if not path.is_dir():
        raise GanlabError(f"{path}: no such directory")
    if (path / "study.yaml").is_file():
        html, damaged = render_study(path, max_frames or 12)
    else:
        html, damaged = render_run(path, max_frames or 24)
    target = Path(out) if out is not None else path / "report.html"
    try:
        atomic_write_text(target, html)
    except OSError as err:
        raise GanlabError(f"cannot write the report to {target}: {err.strerror or err}") from None
    return Report(target, damaged)
