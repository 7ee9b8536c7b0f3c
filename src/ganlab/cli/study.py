"""CLI for studies and reports: `ganlab study run|status|verdicts|list|show` and `ganlab report`
(mounted by `ganlab.cli`)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console, Group
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.progress_bar import ProgressBar
from rich.table import Table

from ganlab.cli.bounds import EPOCHS_SCALE, EVAL_N, MAX_FRAMES, SEEDS, THREADS, WORKERS, bounded
from ganlab.cli.console import DataDirOption, DeviceOption, user_errors
from ganlab.cli.estimate import EtaColumn, print_plan
from ganlab.errors import GanlabError

STATE_STYLE = {
    "done": "green", "running": "cyan", "failed": "red", "stale": "red", "incomplete": "yellow", "pending": "dim",
    "damaged": "red",
}  # fmt: skip
TREND_STYLE = {"still improving": "yellow", "regressing": "red", "too short": "dim"}
HEALTH_STYLE = {"healthy": "green", "partial-collapse": "yellow", "unstable": "yellow", "memorised": "yellow"}  # others: red


def default_workers() -> int:
    """A worker per 4 CPU cores, at least 1: small GANs gain little from more threads than that."""
    return max(1, (os.cpu_count() or 1) // 4)


study_app = typer.Typer(
    help="Run a study (its experiments' configs times several seeds) and see where it stands.",
    no_args_is_help=True,
)


def _locate(spec_arg: str, out: Optional[Path]) -> tuple[Any, Path]:
    """(spec or None, study directory) from the SPEC argument and --out."""
    from ganlab.study.spec import STUDY_FILE, load_spec

    given = Path(spec_arg)
    if given.is_dir() and (given / STUDY_FILE).is_file():
        if out is not None and out.resolve() != given.resolve():
            raise GanlabError(f"{given} is a study directory: resume it without --out, or give a spec name")
        return None, given
    spec = load_spec(spec_arg)
    return spec, out if out is not None else Path("studies") / spec.name


@study_app.command("run")
@user_errors
@bounded(seeds=SEEDS, epochs_scale=EPOCHS_SCALE, workers=WORKERS, threads=THREADS, eval_n=EVAL_N)
def run_command(
    spec: Annotated[
        str,
        typer.Argument(help="A shipped study (see `ganlab study list`), a spec YAML file, or a study directory to resume."),
    ],
    seeds: Annotated[
        Optional[int], typer.Option("--seeds", help=f"Seeds per config: 0..N-1, N {SEEDS} (default 3; or the study's own).")
    ] = None,
    epochs_scale: Annotated[
        Optional[float],
        typer.Option("--epochs-scale", help=f"Multiply every config's train.epochs (rounded, at least 1), {EPOCHS_SCALE}; default 1."),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", help=f"Runs at a time, each in its own process, {WORKERS} (default: cores / 4).")
    ] = default_workers(),
    threads: Annotated[
        Optional[int], typer.Option("--threads", help=f"torch threads per run, {THREADS} (default: cores // workers).")
    ] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Study directory (default: studies/<study name>).")] = None,
    eval_n: Annotated[
        Optional[int], typer.Option("--eval-n", help=f"Samples scored per run for the final metrics, {EVAL_N} (default 10000).")
    ] = None,
    data_dir: DataDirOption = None,
    device: DeviceOption = None,
    backend: Annotated[
        str, typer.Option("--backend", help="local (worker processes here) or ray (needs `pip install 'ganlab\\[ray]'`).")
    ] = "local",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would run, run nothing.")] = False,
) -> None:
    """Run every experiment of a study for each seed; run it again to resume (only missing or failed runs run)."""
    from ganlab.study.launch import Options
    from ganlab.study.runner import default_threads, prepare, run_study
    from ganlab.study.spec import STUDY_FILE, read_record
    from ganlab.study.tasks import TO_RUN, plan, run_state

    if backend not in ("local", "ray"):
        raise GanlabError(f"--backend: expected local or ray, got {backend!r}")
    spec_model, study_dir = _locate(spec, out)
    before = read_record(study_dir).seeds if (study_dir / STUDY_FILE).is_file() else None
    record = prepare(study_dir, spec_model, seeds, epochs_scale, eval_n)
    options = Options(
        workers=workers, threads=threads or default_threads(workers), eval_n=record.eval_n,
        data_dir=data_dir, device=device,
    )  # fmt: skip
    console = Console()
    if record.seeds < 2:  # said before the runs, not after them when the verdicts find too few
        Console(stderr=True).print(
            f"[yellow]warning:[/yellow] {record.seeds} seed per config: verdicts need at least 2 (3 recommended); "
            "this study will train and score runs but compare none (--seeds 3)",
            highlight=False,
        )
    tasks = plan(study_dir, record)
    states = [run_state(t) for t in tasks]
    todo = sum(t.trains and s.state in TO_RUN for t, s in zip(tasks, states))
    milestones = sum(not t.trains for t in tasks)
    nested = f" ({milestones} of them milestones of longer runs: {len(tasks) - milestones} to train)" if milestones else ""
    console.print(
        f"study [bold]{record.spec.name}[/bold]: {len(record.spec.experiments)} experiments, "
        f"{len(record.spec.config_names())} configs x {record.seeds} seeds = {len(tasks)} runs{nested}, {todo} to run; "
        f"epochs x {record.epochs_scale}; {options.workers} workers x {options.threads} threads ({backend}) -> {study_dir}",
        highlight=False,
    )
    if before is not None and record.seeds > before:
        console.print(
            f"adding seed{f's {before}-' if record.seeds - before > 1 else ' '}{record.seeds - 1} to the study's "
            f"{before}: its finished runs are kept",
            highlight=False,
        )
    from ganlab.bench.estimate import estimate_tasks

    # Time each architecture for a few steps (and, for the dry run, one evaluation per dataset):
    # the dry run's wall-time estimate, and the weights of the progress bar's ETA.
    work = [(t, s) for t, s in zip(tasks, states) if t.trains and s.state in TO_RUN]
    if work:
        console.print(f"timing {'each architecture and evaluation' if dry_run else 'each architecture'} for the estimate ...")
    estimates, timings = estimate_tasks(
        [(t.config, s.epochs_done) for t, s in work], record.eval_n, data_dir, device, options.threads, evaluate=dry_run
    )
    if dry_run:
        print_plan(console, tasks, states, dict(zip((t for t, _ in work), estimates)), timings, options)
        return

    total_epochs = sum(t.config.train.epochs for t in tasks if t.trains)
    # The ETA weighs each epoch still to train by its architecture's timed cost per epoch.
    per_epoch = {t: e.train / max(1, t.config.train.epochs - s.epochs_done) for (t, s), e in zip(work, estimates)}

    def work_done() -> float:
        return sum(min(run_state(t).epochs_done, t.config.train.epochs) * cost for t, cost in per_epoch.items())

    bar = Progress(
        TextColumn("study"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"), TimeElapsedColumn(), EtaColumn(),
        console=console, disable=not console.is_terminal,
    )  # fmt: skip
    start_work = work_done()
    bar_task = bar.add_task(
        "study", total=total_epochs, work=start_work, work_start=start_work,
        work_total=sum(cost * t.config.train.epochs for t, cost in per_epoch.items()),
    )  # fmt: skip

    def on_event(kind: str, task: Any, payload: Any) -> None:
        if kind == "floor":
            bar.console.print("computing the real-data floor and the metrics' reference features (once) ...")
        elif kind == "floor-done" and payload:
            bar.console.print(
                f"[yellow]warning:[/yellow] no real-data floor: {escape(payload)} (log: {study_dir / 'floor-log.txt'}); "
                "the runs go on", highlight=False,
            )  # fmt: skip
        elif kind == "progress":
            bar.update(bar_task, completed=payload, work=work_done())
        elif kind == "end":
            if payload.ok:
                bar.console.print(f"[green]done[/green]   {task.label} in {payload.seconds:.0f} s", highlight=False)
            else:
                bar.console.print(
                    f"[red]failed[/red] {task.label}: {escape(payload.error)}\n"  # the error starts with the cause
                    f"       log: {task.path / 'log.txt'}",
                    highlight=False,
                )

    with bar:
        result = run_study(study_dir, record, options, backend=backend, on_event=on_event)
    final = [run_state(t) for t in result.tasks]
    done = sum(s.state == "done" for s in final)
    not_done = len(final) - done
    console.print(
        f"{done}/{len(final)} runs done ({len(result.ran)} run now, {len(result.failed)} failed)."
        + (f" See `ganlab study status {study_dir}`." if not_done else "")
        + f" Report: `ganlab report {study_dir}`.",
        highlight=False,
    )
    if not_done:
        raise typer.Exit(1)


def health_text(info: dict) -> str:
    """A run's monitor verdict: its health at the end, and its worst on the way when that differs."""
    health, worst = info.get("health"), info.get("health_worst")
    if not health:
        return "-"
    from ganlab.train.monitors.events import health_text as said

    text = f"[{HEALTH_STYLE.get(health, 'red')}]{said(health)}[/]"
    return text + (f" (was {worst})" if worst and worst != health else "")


@study_app.command("status")
@user_errors
def status_command(
    study_dir: Annotated[Path, typer.Argument(help="A study directory (holding study.yaml).", exists=True, file_okay=False)],
) -> None:
    """Show which runs of a study are done, running, failed or still to run, with a progress bar."""
    from ganlab.study.tasks import study_states
    from ganlab.study.trends import stored_or_computed

    record, states = study_states(study_dir)
    table = Table(
        "config", "seed", "state", "epochs", "s/epoch", "health", "trend", "detail",
        title=f"study {record.spec.name}: {study_dir}",
    )  # fmt: skip
    counts: dict[str, int] = {}
    done_epochs = total_epochs = 0
    for task, state in states:
        counts[state.state] = counts.get(state.state, 0) + 1
        if task.trains:  # a milestone's epochs are its run's
            done_epochs += min(state.epochs_done, state.epochs)
            total_epochs += state.epochs
        per_epoch = state.info.get("seconds_per_epoch") or []
        style = STATE_STYLE.get(state.state, "")
        until = None if task.trains else task.config.train.epochs  # a milestone's trend: of its run up to it
        detail = state.detail + (f" ({state.phase})" if state.phase and state.state == "failed" else "")
        table.add_row(
            task.name, str(task.seed), f"[{style}]{state.state}[/{style}]", f"{state.epochs_done}/{state.epochs}",
            f"{sum(per_epoch) / len(per_epoch):.2f}" if per_epoch else "-", health_text(state.info),
            trend_cell(stored_or_computed(state.info, task.path, task.config.data.dataset, until)), escape(detail),
        )  # fmt: skip
    console = Console()
    console.print(table)
    summary = "  ".join(f"[{STATE_STYLE.get(k, '')}]{k} {v}[/{STATE_STYLE.get(k, '')}]" for k, v in sorted(counts.items()))
    grid = Table.grid(padding=(0, 1))
    grid.add_row(
        "study", ProgressBar(total=max(total_epochs, 1), completed=done_epochs, width=40),
        f"{done_epochs}/{total_epochs} epochs", f"{counts.get('done', 0)}/{len(states)} runs done",
    )  # fmt: skip
    console.print(Group(grid, summary), highlight=False)
    console.print(
        f"{record.seeds} seeds, epochs x {record.epochs_scale}, eval n {record.eval_n}. "
        f"Resume: `ganlab study run {study_dir}`; report: `ganlab report {study_dir}`.",
        highlight=False,
    )


def trend_cell(trend: dict | None) -> str:
    """A run's under-trained-or-bad verdict for the status table (of the evaluations so far while
    it trains)."""
    if not trend:
        return "-"
    verdict = trend.get("verdict", "too short")
    style = TREND_STYLE.get(verdict, "")
    return f"[{style}]{verdict}[/{style}]" if style else verdict


def unhealthy(runs: list) -> str:
    """How many finished runs the monitors left in a failure status, and which: "1/3 collapsed",
    "3/3: 2 collapsed, 1 d-wins"."""
    done = [r for r in runs if r.state == "done"]
    bad = Counter(str(r.info.get("health")) for r in done if r.info.get("health", "healthy") != "healthy")
    text = f"{sum(bad.values())}/{len(done)}"
    if len(bad) == 1:
        return f"{text} {next(iter(bad))}"
    return text + (": " + ", ".join(f"{n} {status}" for status, n in sorted(bad.items())) if bad else "")


def verdict_rows(study_dir: Path) -> tuple[list[str], list[list[str]]]:
    """The summary of verdicts as plain text: (header, rows), one row per variant."""
    from ganlab.names import fmt
    from ganlab.report.studies import study_views
    from ganlab.study.power import power_text
    from ganlab.study.trends import counts_text

    views = study_views(study_dir, pictures=False)
    metrics = views["spec"].metrics
    header = ["exp.", "variant vs control", "seeds", "the study said", "expected", "measured", *metrics,
              "under-trained or bad? (variant / control)", "agrees", "unhealthy at the end"]  # fmt: skip
    rows = []
    for v in views["comparisons"]:
        by_metric = {c.metric: c for c in v.comparisons}
        cells = []
        for metric in metrics:
            c = by_metric.get(metric)
            if c is None:
                cells.append("-")
                continue
            power = power_text(c.detectable, c.verdict in ("better", "worse", "different"))
            cells.append(f"{c.verdict} ({fmt(c.variant.mean)} vs {fmt(c.control.mean)})" + (f", {power}" if power else ""))
        trends = f"{counts_text(v.trend_variant)} / {counts_text(v.trend_control)}"
        agrees = "?" if v.agrees is None else v.agrees
        seeds = f"{v.n_variant}/{v.n_control}" + (" paired" if v.paired else "")
        rows.append([v.experiment.id, f"{v.variant} vs {v.control}", seeds, v.claim,
                     v.expected, v.overall, *cells, trends + (f" ({v.speed_note})" if v.speed_note else ""), agrees,
                     f"{unhealthy(v.variant_runs)} / {unhealthy(v.control_runs)}"])  # fmt: skip
    # The real-data floor beside every score: what real images get on the same metrics.
    floor = views["floor"]
    floor_cells = [fmt(floor[m]) if isinstance(floor.get(m), (int, float)) else "n/a" for m in metrics]
    rows.append(["", "real-data floor", "", "", "", "", *floor_cells, "", "", ""])
    return header, rows


@study_app.command("verdicts")
@user_errors
def verdicts_command(
    study_dir: Annotated[Path, typer.Argument(help="A study directory (holding study.yaml).", exists=True, file_okay=False)],
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table (for a README).")] = False,
) -> None:
    """Print the summary of verdicts: each variant against its control, beside the study's claim."""
    header, rows = verdict_rows(study_dir)
    if markdown:
        def line(cells: list[str]) -> str:
            return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

        typer.echo("\n".join([line(header), line(["---"] * len(header)), *map(line, rows)]))
        return
    typer.echo("\n".join(verdict_blocks(study_dir, header, rows)))


def verdict_blocks(study_dir: Path, header: list[str], rows: list[list[str]], width: int = 100) -> list[str]:
    """The verdicts for a terminal: one block per variant, each line within `width` columns (a
    table of every column is about 160 wide)."""
    import textwrap

    def wrapped(text: str, indent: str = "    ") -> list[str]:
        return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent + "  ")

    *experiments, floor = rows
    metrics = header[6:-3]
    label = max(len(m) for m in metrics)
    lines = [f"verdicts: {study_dir}"]
    lines += wrapped(
        "n.s.: no significant difference; likely smaller than X: X is the smallest difference these seeds "
        "would have detected (Welch, 80% power, from the observed spread); paired: both sides are milestones "
        "of the same runs (a nested run), compared by each seed's difference (paired t-test)", indent="",
    )  # fmt: skip
    for exp_id, pair, seeds, claim, expected, measured, *cells, trends, agrees, unhealthy_runs in experiments:
        lines += ["", f"{exp_id}. {pair} (seeds {seeds}): measured {measured}, expected {expected}: {agrees}"]
        lines += wrapped(f"the study said: {claim}")
        for metric, cell in zip(metrics, cells):
            lines += wrapped(f"{metric:<{label}}  {cell.replace('no significant difference', 'n.s.')}")
        lines += wrapped(f"under-trained or bad? (variant / control): {trends}")
        lines += wrapped(f"unhealthy at the end (variant / control): {unhealthy_runs}")
    lines += ["", "real-data floor: " + ", ".join(f"{m} {v}" for m, v in zip(metrics, floor[6:-3]))]
    return lines


@study_app.command("list")
def list_command() -> None:
    """Show the studies shipped with ganlab."""
    from ganlab.study.spec import load_spec, spec_names

    table = Table("study", "experiments", "configs", "description")
    for name in spec_names():
        spec = load_spec(name)
        table.add_row(name, str(len(spec.experiments)), str(len(spec.config_names())), spec.description)
    Console().print(table)


@study_app.command("show")
@user_errors
def show_command(name: Annotated[str, typer.Argument(help="A shipped study name or a spec file.")]) -> None:
    """Print a study spec's YAML (copy a shipped one to start your own)."""
    from ganlab.study.spec import load_spec, spec_text

    load_spec(name)  # validate it
    typer.echo(spec_text(name)[0], nl=False)


@user_errors
@bounded(max_frames=MAX_FRAMES)
def report_command(
    path: Annotated[
        Path, typer.Argument(help="A study directory (study.yaml) or a run directory (run.json).", exists=True, file_okay=False)
    ],
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file to write (default: PATH/report.html).")] = None,
    max_frames: Annotated[
        Optional[int],
        typer.Option("--max-frames", help=f"Frames per sample GIF, epochs evenly spread, {MAX_FRAMES} (default: 12 per run of a study, 24 for one run)."),
    ] = None,
) -> None:
    """Write a self-contained HTML report of a study (verdicts, samples, curves) or of one run."""
    from ganlab.report.html import write_report

    report = write_report(path, out, max_frames)
    size = report.path.stat().st_size / 1e6
    if report.damaged:
        more = f" (and {len(report.damaged) - 1} more)" if len(report.damaged) > 1 else ""
        raise GanlabError(f"wrote {report.path}, but a run is damaged{more}: {report.damaged[0]}")
    typer.echo(f"wrote {report.path} ({size:.1f} MB); open it in a browser, no server needed")
