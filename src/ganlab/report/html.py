"""Static HTML reports of a study directory or a single run directory.

The page is one self-contained file: pictures, plots and GIFs are embedded as base64 data URIs,
the CSS is inline, there is no script, so it opens offline from the file system. Everything is
read back from run directories (config.yaml, run.json, metrics.jsonl, eval.json, samples/,
log.txt), so the report can be rebuilt at any time, also while the study runs. Templates are
Jinja2 with autoescaping on: every string from a run or a spec is escaped.

    write_report(Path("studies/seed-study"))     # -> studies/seed-study/report.html
    write_report(Path("runs/fc-20250101-1200"))  # -> runs/fc-.../report.html
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import jinja2

from ganlab.errors import GanlabError
from ganlab.files import atomic_write_text, read_json, read_json_lines
from ganlab.names import arrow, fmt, metric_arrow
from ganlab.report.gif import sample_pictures, samples_gif
from ganlab.report.plots import mark_events, pyplot

CONTROL_COLOUR, VARIANT_COLOUR = "#1f77b4", "#ff7f0e"
LOG_TAIL_LINES = 40


# Reading runs back -----------------------------------------------------------------------------


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class RunView:
    """What the report shows of one run directory."""

    name: str
    seed: int | None
    path: Path
    state: str  # done, running, failed, stale, incomplete, pending (or a run.json status)
    detail: str
    epochs_done: int
    epochs: int | None
    info: dict[str, Any]
    evaluation: dict[str, Any] | None
    records: list[dict[str, Any]]
    samples: dict[int, Path]
    log_tail: str
    description: str = ""
    config_text: str = ""
    gif: str | None = None  # data URI

    @property
    def label(self) -> str:
        return self.name if self.seed is None else f"{self.name} seed-{self.seed}"

    @property
    def scores(self) -> dict[str, float]:
        return dict((self.evaluation or {}).get("metrics") or {})

    @property
    def higher_is_better(self) -> dict[str, bool | None]:
        return dict((self.evaluation or {}).get("higher_is_better") or {})

    @property
    def seconds_per_epoch(self) -> float | None:
        seconds = self.info.get("seconds_per_epoch") or []
        return sum(seconds) / len(seconds) if seconds else None

    def eval_records(self) -> list[dict[str, Any]]:
        """The evaluations during training (metrics.jsonl `eval` records)."""
        return [r for r in self.records if r.get("kind") == "eval"]

    @property
    def health(self) -> str | None:
        """What the monitors said at the end (run.json `health`); None for a run without them."""
        return self.info.get("health")

    @property
    def health_worst(self) -> str | None:
        """The most severe status any monitor event had during the run."""
        return self.info.get("health_worst")

    @property
    def events(self) -> list[dict[str, Any]]:
        """The monitor events of run.json, in order."""
        return [e for e in self.info.get("events") or [] if isinstance(e, dict)]


def load_run(
    path: Path, name: str | None = None, seed: int | None = None, state: str | None = None, detail: str = "",
    epochs: int | None = None,
) -> RunView:  # fmt: skip
    """A RunView of a run directory; the state defaults to what run.json and eval.json say."""
    info = read_json(path / "run.json") or {}
    evaluation = read_json(path / "eval.json")
    config_text = ""
    description = ""
    try:
        import yaml

        config_text = (path / "config.yaml").read_text()
        config = yaml.safe_load(config_text) or {}
        description = str(config.get("description", "")) if isinstance(config, dict) else ""
        if epochs is None and isinstance(config, dict):
            epochs = (config.get("train") or {}).get("epochs")
    except (OSError, ValueError):
        pass
    if state is None:
        status = info.get("status", "missing")
        if status == "complete":
            state = "done" if evaluation is not None else "not scored"
        else:
            state = str(status)
        detail = detail or str(info.get("error", ""))
    return RunView(
        name=name or str(info.get("name") or path.name),
        seed=seed,
        path=path,
        state=state,
        detail=detail,
        epochs_done=int(info.get("epochs_done", 0) or 0),
        epochs=epochs,
        info=info,
        evaluation=evaluation,
        records=read_json_lines(path / "metrics.jsonl"),
        samples=sample_pictures(path / "samples"),
        log_tail=_log_tail(path / "log.txt") if state not in ("done",) else "",
        description=description,
        config_text=config_text,
    )


# Pictures and plots ----------------------------------------------------------------------------


def data_uri(data: bytes, mime: str) -> str:
    """`data` inline, as a data: URI."""
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _png_uri(path: Path) -> str | None:
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


Side = tuple[str, str, list[RunView]]  # (label, colour, runs)


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


LOSS_KEYS = [("d_loss", "D loss"), ("g_loss", "G loss"), ("d_real", "mean D(x)"), ("d_fake", "mean D(G(z))")]


# Formatting ------------------------------------------------------------------------------------


def fmt_p(p: float) -> str:
    """A p-value for a table: '< 0.001' below that, else three decimals."""
    if p is None or math.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ganlab.report", "templates"),
        autoescape=True,  # every user-given string (names, claims, errors, logs) is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt, p=fmt_p, arrow=arrow)
    return env


def _render(template: str, **context: Any) -> str:
    context.setdefault("generated", dt.datetime.now().astimezone().isoformat(timespec="seconds"))
    import ganlab

    context.setdefault("version", ganlab.__version__)
    return _environment().get_template(template).render(**context)


# The single-run page ---------------------------------------------------------------------------


def _metric_rows(run: RunView, floor: dict[str, float]) -> list[dict[str, Any]]:
    higher = run.higher_is_better
    return [
        {"name": name, "higher_is_better": higher.get(name), "value": value, "floor": floor.get(name)}
        for name, value in run.scores.items()
    ]


def render_run(run_dir: Path, max_frames: int = 24) -> str:
    """The HTML page of one run directory."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file() and not (run_dir / "config.yaml").is_file():
        raise GanlabError(f"{run_dir} is neither a run directory (no run.json) nor a study directory (no study.yaml)")
    marker = read_json(run_dir / "study-run.json") or {}
    run = load_run(run_dir)
    if marker.get("state") == "failed" and run.state != "failed":
        run.state, run.detail = "failed", str(marker.get("error", ""))
        run.log_tail = _log_tail(run_dir / "log.txt")
    gif = samples_gif(run_dir / "samples", max_frames)
    run.gif = data_uri(gif, "image/gif") if gif else None
    floor = dict((run.evaluation or {}).get("real_floor") or {})
    last = max(run.samples) if run.samples else None
    metric_keys = [(name, f"{name} {metric_arrow(name, run.higher_is_better)}".strip()) for name in _eval_keys([run])]
    return _render(
        "run.html.j2",
        title=f"{run.name}: run report",
        run=run,
        metrics=_metric_rows(run, floor),
        floor=floor,
        floor_n=(run.evaluation or {}).get("n"),
        last_epoch=last,
        last_samples=_png_uri(run.samples[last]) if last is not None else None,
        loss_plot=curves_plot([(run.name, CONTROL_COLOUR, [run])], "epoch", LOSS_KEYS, events=run.events),
        metric_plot=curves_plot([(run.name, CONTROL_COLOUR, [run])], "eval", metric_keys, floor, run.events),
    )


def _eval_keys(runs: Iterable[RunView]) -> list[str]:
    keys: list[str] = []
    for run in runs:
        for record in run.eval_records():
            for key, value in record.items():
                if key not in ("kind", "epoch", "step", "x") and isinstance(value, (int, float)) and key not in keys:
                    keys.append(key)
    return keys


# The study page --------------------------------------------------------------------------------


@dataclass
class ComparisonView:
    """One variant against its control: the numbers, the verdicts and the pictures."""

    experiment: Any  # spec.Experiment
    variant: str
    control: str
    expected: str
    claim: str
    comparisons: list[Any]  # stats.Comparison, one per metric that both sides measured
    missing_metrics: list[str]
    overall: str
    agrees: str | None  # stats.agreement: agrees, contradicts, not confirmed, unclear
    variant_runs: list[RunView]
    control_runs: list[RunView]
    n_variant: int
    n_control: int
    grid_epoch: int | None = None
    grid_seed: int | None = None
    variant_grid: str | None = None
    control_grid: str | None = None
    loss_plot: str | None = None
    metric_plot: str | None = None
    seconds: dict[str, float | None] = field(default_factory=dict)

    @property
    def anchor(self) -> str:
        return f"exp-{self.experiment.id}-{self.variant}"


def _side_grids(variant: list[RunView], control: list[RunView]) -> tuple[int | None, int | None, str | None, str | None]:
    """The sample pictures of both sides at the same epoch: the last epoch both have, for the
    first seed that both sides have pictures of (the same seed has the same fixed noise)."""
    control_by_seed = {run.seed: run for run in control if run.samples}
    for run in variant:
        other = control_by_seed.get(run.seed)
        if not run.samples or other is None:
            continue
        common = sorted(set(run.samples) & set(other.samples))
        if common:
            epoch = common[-1]
            return epoch, run.seed, _png_uri(run.samples[epoch]), _png_uri(other.samples[epoch])
    return None, None, None, None


def compare_sides(
    experiment: Any, variant_name: str, expected: str, claim: str, control_name: str,
    runs: dict[str, list[RunView]], metrics: list[str], alpha: float, floor: dict[str, float],
    pictures: bool = True,
) -> ComparisonView:  # fmt: skip
    """Welch comparisons on the final metrics (eval.json) of the done runs of both sides."""
    from ganlab.study.stats import agreement, compare, overall_verdict

    variant_runs, control_runs = runs.get(variant_name, []), runs.get(control_name, [])
    done_v = [r for r in variant_runs if r.state == "done"]
    done_c = [r for r in control_runs if r.state == "done"]
    comparisons, missing = [], []
    for metric in metrics:
        values_v = [r.scores[metric] for r in done_v if isinstance(r.scores.get(metric), (int, float))]
        values_c = [r.scores[metric] for r in done_c if isinstance(r.scores.get(metric), (int, float))]
        if not values_v and not values_c:
            missing.append(metric)
            continue
        higher = next((r.higher_is_better[metric] for r in done_v + done_c if metric in r.higher_is_better), None)
        comparisons.append(compare(values_v, values_c, metric, higher, alpha))
    overall = overall_verdict(comparisons)
    view = ComparisonView(
        experiment=experiment, variant=variant_name, control=control_name, expected=expected, claim=claim,
        comparisons=comparisons, missing_metrics=missing, overall=overall, agrees=agreement(expected, overall),
        variant_runs=variant_runs, control_runs=control_runs, n_variant=len(done_v), n_control=len(done_c),
        seconds={
            "variant": _mean([r.seconds_per_epoch for r in variant_runs]),
            "control": _mean([r.seconds_per_epoch for r in control_runs]),
        },
    )  # fmt: skip
    if pictures:
        view.grid_epoch, view.grid_seed, view.variant_grid, view.control_grid = _side_grids(variant_runs, control_runs)
        sides: list[Side] = [(control_name, CONTROL_COLOUR, control_runs), (variant_name, VARIANT_COLOUR, variant_runs)]
        view.loss_plot = curves_plot(sides, "epoch", LOSS_KEYS)
        higher = {c.metric: c.higher_is_better for c in comparisons}
        keys = [(m, f"{m} {metric_arrow(m, higher)}".strip()) for m in metrics]
        keys += [(k, k) for k in _eval_keys(variant_runs + control_runs) if k not in metrics]
        view.metric_plot = curves_plot(sides, "eval", keys, floor)
    return view


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def study_views(study_dir: Path, pictures: bool = True, max_frames: int = 12) -> dict[str, Any]:
    """Everything the study page shows, as plain data (also used by tests)."""
    from ganlab.study.runner import FLOOR, study_states

    record, states = study_states(study_dir)
    spec = record.spec
    runs: dict[str, list[RunView]] = defaultdict(list)
    all_runs: list[RunView] = []
    for task, state in states:
        view = load_run(task.path, task.name, task.seed, state.state, state.detail, task.config.train.epochs)
        if pictures:  # many runs on one page: 16 digits per frame, reduced to at most 160 px
            gif = samples_gif(task.path / "samples", max_frames, max_side=160, crop=True)
            view.gif = data_uri(gif, "image/gif") if gif else None
        runs[task.name].append(view)
        all_runs.append(view)
    floors = read_json(study_dir / FLOOR) or {}
    datasets = sorted({task.config.data.dataset for task, _ in states})
    floor_dataset = next((d for d in datasets if d in floors), None)
    floor_entry = floors[floor_dataset] if floor_dataset else None
    floor = dict((floor_entry or {}).get("metrics") or {})
    comparisons = []
    for experiment in spec.experiments:
        for variant in experiment.variants:
            comparisons.append(
                compare_sides(
                    experiment, variant.config, experiment.expected_of(variant), experiment.claim_of(variant),
                    experiment.control, runs, spec.metrics, spec.alpha, floor, pictures,
                )  # fmt: skip
            )
    counts: dict[str, int] = defaultdict(int)
    for run in all_runs:
        counts[run.state] += 1
    total_epochs = sum(task.config.train.epochs for task, _ in states)
    done_epochs = sum(min(s.epochs_done, task.config.train.epochs) for task, s in states)
    return {
        "record": record,
        "spec": spec,
        "runs": all_runs,
        "runs_by_config": dict(runs),
        "comparisons": comparisons,
        "floor": floor,
        "floor_entry": floor_entry,
        "floor_dataset": floor_dataset,
        "floors": floors,
        "counts": dict(counts),
        "progress": done_epochs / total_epochs if total_epochs else 0.0,
        "problems": [r for r in all_runs if r.state != "done"],
        "evaluator_sha": next((r.evaluation.get("evaluator_sha256") for r in all_runs if r.evaluation), None),
    }


def render_study(study_dir: Path, max_frames: int = 12) -> str:
    """The HTML page of a study directory."""
    views = study_views(Path(study_dir), pictures=True, max_frames=max_frames)
    return _render("study.html.j2", title=f"{views['spec'].name}: study report", study_dir=str(study_dir), **views)


def write_report(path: Path, out: Path | None = None, max_frames: int | None = None) -> Path:
    """Write the report of a study directory (with study.yaml) or a run directory (with
    run.json) to `out`, default PATH/report.html; returns the file written. `max_frames` per
    sample GIF defaults to 12 for a study (one GIF per run) and 24 for a single run."""
    path = Path(path)
    if not path.is_dir():
        raise GanlabError(f"{path}: no such directory")
    if (path / "study.yaml").is_file():
        html = render_study(path, max_frames or 12)
    else:
        html = render_run(path, max_frames or 24)
    target = Path(out) if out is not None else path / "report.html"
    try:
        atomic_write_text(target, html)
    except OSError as err:
        raise GanlabError(f"cannot write the report to {target}: {err.strerror or err}") from None
    return target
