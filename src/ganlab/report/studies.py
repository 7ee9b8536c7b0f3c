"""What the study page shows, as plain data: each variant against its control, with the numbers,
the verdicts and the pictures (`study_views`; also read by `ganlab study verdicts`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganlab.files import read_json
from ganlab.names import metric_arrow
from ganlab.report.figures import CONTROL_COLOUR, LOSS_KEYS, VARIANT_COLOUR, Side, curves_plot, data_uri, png_uri
from ganlab.report.gif import samples_gif
from ganlab.report.runs import RunView, eval_keys, load_run
from ganlab.study.tasks import FLOOR, study_states
from ganlab.study.trends import side_counts, speed_note


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
    # Under-trained or bad? per side: how many done runs got each trend verdict, and the note
    # that the comparison is about speed when a side was still improving.
    trend_variant: Counter[str] = field(default_factory=Counter)
    trend_control: Counter[str] = field(default_factory=Counter)
    speed_note: str = ""
    paired: bool = False  # both sides are milestones of the same runs: paired by seed (`compare(paired=True)`)

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
            return epoch, run.seed, png_uri(run.samples[epoch]), png_uri(other.samples[epoch])
    return None, None, None, None


def compare_sides(
    experiment: Any, variant_name: str, expected: str, claim: str, control_name: str,
    runs: dict[str, list[RunView]], metrics: list[str], alpha: float, floor: dict[str, float],
    pictures: bool = True,
) -> ComparisonView:  # fmt: skip
    """Welch comparisons on the final metrics (eval.json) of the done runs of both sides; paired
    by seed when both sides are milestones of the same runs (`paired_by_seed`)."""
    from ganlab.study.stats import agreement, compare, overall_verdict  # scipy: 0.6 s

    variant_runs, control_runs = runs.get(variant_name, []), runs.get(control_name, [])
    done_v = [r for r in variant_runs if r.state == "done"]
    done_c = [r for r in control_runs if r.state == "done"]
    paired = paired_by_seed(variant_runs, control_runs)
    seeds = sorted({r.seed for r in done_v if r.seed is not None} & {r.seed for r in done_c})
    comparisons, missing = [], []
    for metric in metrics:
        values_v = [r.scores[metric] for r in done_v if isinstance(r.scores.get(metric), (int, float))]
        values_c = [r.scores[metric] for r in done_c if isinstance(r.scores.get(metric), (int, float))]
        if not values_v and not values_c:
            missing.append(metric)
            continue
        higher = next((r.higher_is_better[metric] for r in done_v + done_c if metric in r.higher_is_better), None)
        if paired:
            comparisons.append(compare(
                [_score(done_v, seed, metric) for seed in seeds], [_score(done_c, seed, metric) for seed in seeds],
                metric, higher, alpha, paired=True,
            ))  # fmt: skip
        else:
            comparisons.append(compare(values_v, values_c, metric, higher, alpha))
    overall = overall_verdict(comparisons)
    trend_v, trend_c = side_counts(r.trend for r in done_v), side_counts(r.trend for r in done_c)
    view = ComparisonView(
        experiment=experiment, variant=variant_name, control=control_name, expected=expected, claim=claim,
        comparisons=comparisons, missing_metrics=missing, overall=overall, agrees=agreement(expected, overall),
        variant_runs=variant_runs, control_runs=control_runs, n_variant=len(done_v), n_control=len(done_c),
        seconds={
            "variant": _mean([r.seconds_per_epoch for r in variant_runs]),
            "control": _mean([r.seconds_per_epoch for r in control_runs]),
        },
        trend_variant=trend_v, trend_control=trend_c, speed_note=speed_note(trend_v, trend_c), paired=paired,
    )  # fmt: skip
    if pictures:
        view.grid_epoch, view.grid_seed, view.variant_grid, view.control_grid = _side_grids(variant_runs, control_runs)
        sides: list[Side] = [(control_name, CONTROL_COLOUR, control_runs), (variant_name, VARIANT_COLOUR, variant_runs)]
        view.loss_plot = curves_plot(sides, "epoch", LOSS_KEYS)
        higher = {c.metric: c.higher_is_better for c in comparisons}
        keys = [(m, f"{m} {metric_arrow(m, higher)}".strip()) for m in metrics]
        keys += [(k, k) for k in eval_keys(variant_runs + control_runs) if k not in metrics]
        view.metric_plot = curves_plot(sides, "eval", keys, floor)
    return view


def paired_by_seed(variant: list[RunView], control: list[RunView]) -> bool:
    """Whether each seed's variant and control come from the same run directory: milestones of a
    study's nested run (or the run and one of its milestones), whose values pair by seed."""
    by_seed = {run.seed: run.path for run in control}
    common = [run for run in variant if run.seed in by_seed]
    return bool(common) and all(run.path == by_seed[run.seed] for run in common)


def _score(runs: list[RunView], seed: int | None, metric: str) -> float | None:
    value = next((r.scores.get(metric) for r in runs if r.seed == seed), None)
    return value if isinstance(value, (int, float)) else None


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def study_views(study_dir: Path, pictures: bool = True, max_frames: int = 12) -> dict[str, Any]:
    """Everything the study page shows, as plain data (also used by tests)."""
    record, states = study_states(study_dir)
    spec = record.spec
    runs: dict[str, list[RunView]] = defaultdict(list)
    all_runs: list[RunView] = []
    for task, state in states:
        milestone = None if task.trains else task.config.train.epochs
        view = load_run(task.path, task.name, task.seed, state.state, state.detail, task.config.train.epochs, milestone)
        if pictures:  # many runs on one page: 16 digits per frame, reduced to at most 160 px
            gif = samples_gif(task.path / "samples", max_frames, max_side=160, crop=True, until=milestone)
            view.gif = data_uri(gif, "image/gif") if gif else None
        runs[task.name].append(view)
        all_runs.append(view)
    # floor.json is keyed by dataset: the first dataset of the study that has one.
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
    total_epochs = sum(task.config.train.epochs for task, _ in states if task.trains)  # a milestone's are its run's
    done_epochs = sum(min(s.epochs_done, task.config.train.epochs) for task, s in states if task.trains)
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
