"""ganlab's command line: one command per verb.

User errors (bad config, bad input, missing data) print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import shlex
import signal
import threading
from pathlib import Path
from typing import Annotated, Callable, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ganlab.config import load_config_file, load_preset, preset_names, preset_text, resolve_preset_dict
from ganlab.cli.bounds import SAMPLES, SEED, THREADS, bounded
from ganlab.cli.console import DataDirOption, DeviceOption, ThreadsOption, user_errors
from ganlab.errors import GanlabError

T = TypeVar("T")

app = typer.Typer(
    help="ganlab: train, measure and compare GANs on small image datasets.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
presets_app = typer.Typer(help="List and show the shipped presets.", no_args_is_help=True)
app.add_typer(presets_app, name="presets")


@app.command()
@user_errors
@bounded(threads=THREADS)
def train(
    preset: Annotated[
        Optional[str], typer.Option("--preset", "-p", help="Preset to train (default fc; see `ganlab presets list`).")
    ] = None,
    config_file: Annotated[
        Optional[Path],
        typer.Option("--config", help="A YAML config file instead of a preset.", exists=True, dir_okay=False),
    ] = None,
    overrides: Annotated[
        Optional[list[str]],
        typer.Option("--set", metavar="KEY=VALUE", help="Dotted override, e.g. --set train.epochs=5 (repeatable)."),
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", help="Run directory (default: runs/<preset>-<timestamp>).")
    ] = None,
    resume: Annotated[
        Optional[Path],
        typer.Option("--resume", help="Continue the interrupted run in this directory.", exists=True, file_okay=False),
    ] = None,
    rewrite: Annotated[
        bool, typer.Option("--rewrite", help="With --resume: train again, and rewrite, epochs logged after the last checkpoint.")
    ] = False,
    config_change: Annotated[
        bool, typer.Option("--config-change", help="With --resume: go on with an edited config.yaml (run.json records it).")
    ] = False,
    data_dir: DataDirOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Run one batch, print its losses, write nothing.")] = False,
    device: DeviceOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Train a GAN from a preset or config file; every result goes to one run directory."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    from ganlab.api.run import default_out, resume as resume_run, train as train_run
    from ganlab.train.loop import dry_run_step

    torch_device = torch.device(device) if device else None
    progress = "quiet" if quiet else "auto"
    if resume is not None:
        if overrides or config_file or out or preset or dry_run:
            raise GanlabError(
                "--resume continues a run with its saved config: drop --preset, --set, --config, --out and --dry-run"
            )
        from ganlab.rundir import RunDir

        info = RunDir(resume).read_info()
        if info.get("status") == "complete":
            typer.echo(f"{resume}: run already complete, nothing to do")
            return
        run = _until_interrupted(resume, lambda: resume_run(
            resume, data_dir=data_dir, progress=progress, device=torch_device, rewrite=rewrite, config_change=config_change
        ))  # fmt: skip
    else:
        if rewrite or config_change:
            raise GanlabError("--rewrite and --config-change go with --resume")
        if config_file and preset:
            raise GanlabError("give either --preset or --config, not both")
        config = (
            load_config_file(config_file, overrides or [])
            if config_file
            else load_preset(preset or "fc", overrides or [])
        )
        if dry_run:
            stats = dry_run_step(config, data_dir=data_dir, device=torch_device)
            typer.echo("dry run, one batch: " + "  ".join(f"{k} {v:.4f}" for k, v in stats.items()))
            return
        out = out or default_out(config)
        run = _until_interrupted(
            out, lambda: train_run(config, out, data_dir=data_dir, progress=progress, device=torch_device)
        )
    if not quiet:
        from ganlab.train.monitors.events import health_text

        info = run.info
        events = len(info.get("events", []))
        typer.echo(
            f"run complete: {run.path} (health: {health_text(info.get('health', 'unknown'))}, {events} monitor events, "
            f"final weights: {info.get('final_weights', 'last')})"
        )
        if info.get("trend"):  # under-trained or bad? said beside the health
            from ganlab.metrics.trend import ADVICE, trend_text

            verdict, numbers = trend_text(info["trend"]).split(": ", 1)
            typer.echo(f"under-trained or bad? {verdict}: {ADVICE[verdict]}\n  {numbers}")


def _until_interrupted(path: Path, train_call: Callable[[], T]) -> T:
    """`train_call()`; on Ctrl-C or SIGTERM, say where the run stopped and how to continue it.

    SIGTERM (`kill`, `timeout`, a scheduler's preemption) takes Ctrl-C's path, so the run is
    marked interrupted and its lock released; the exit status is the shell's, 130 or 143.
    """

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt("SIGTERM")

    main = threading.current_thread() is threading.main_thread()  # only it may set handlers
    previous = signal.signal(signal.SIGTERM, terminate) if main else None
    try:
        return train_call()
    except KeyboardInterrupt as err:
        typer.echo(interrupted_message(path), err=True)
        raise typer.Exit(143 if err.args == ("SIGTERM",) else 130) from None
    finally:
        if main:  # None: the old handler was not set from Python, so the default's was in force
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def interrupted_message(path: Path) -> str:
    """Where the interrupted run in `path` stopped, what a resume keeps, and the command."""
    from ganlab.rundir import RunDir

    run = RunDir(path)
    if not run.exists():
        return f"interrupted before {path} was created: nothing to resume"
    info = run.read_info()
    if run.checkpoint.is_file():
        kept = f"epoch {info.get('epochs_done', '?')} (step {info.get('steps', '?')}) is saved"
    else:
        kept = "no epoch finished, so a resume restarts from step 0"
    return f"interrupted: {kept}; continue with: ganlab train --resume {shlex.quote(str(path))}"


@app.command()
@user_errors
@bounded(n=SAMPLES, seed=SEED)
def sample(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.", exists=True, file_okay=False)],
    out: Annotated[
        Optional[Path], typer.Option("--out", help="PNG file to write (default: RUN_DIR/samples/sample.png).")
    ] = None,
    n: Annotated[int, typer.Option("--n", help=f"Number of samples ({SAMPLES}).")] = 64,
    seed: Annotated[int, typer.Option("--seed", help=f"Noise seed ({SEED}).")] = 0,
    which: Annotated[str, typer.Option("--which", help="Weights: final, best, last, or epoch-N (kept after epoch N).")] = "final",
    label: Annotated[
        Optional[int],
        typer.Option("--class", help="A conditional run: draw only this class (default: one row per class)."),
    ] = None,
) -> None:
    """Draw samples from a run's saved generator into a PNG grid (or scatter plot for 2-D data)."""
    from ganlab.api.run import Run
    from ganlab.pictures import save_png
    from ganlab.train.sampling import describe_picture

    run = Run(run_dir)
    picture = run.picture(n, seed, which, label=label)
    if out is None:
        out = run.samples / ("sample.png" if label is None else f"sample-class-{label}.png")
        out.parent.mkdir(exist_ok=True)  # a run from before its samples/ folder
    try:
        save_png(out, picture)
    except OSError as err:
        raise GanlabError(f"cannot write {out}: {err.strerror or err}") from None
    typer.echo(f"wrote {describe_picture(run.config, n, label)} to {out}")


@presets_app.command("list")
def presets_list() -> None:
    """Show every preset with its one-line description."""
    table = Table("preset", "description")
    for name in preset_names():
        table.add_row(name, resolve_preset_dict(name).get("description", ""))
    Console().print(table)


@presets_app.command("show")
@user_errors
def presets_show(name: Annotated[str, typer.Argument(help="Preset name.")]) -> None:
    """Print a preset's YAML as shipped (a `base:` line names the preset it extends)."""
    typer.echo(preset_text(name), nl=False)


def _mount_subcommands() -> None:
    """Mount the commands that live beside their packages (data, study, report, bench, eval)."""
    from ganlab.cli.data import app as data_app

    app.add_typer(data_app, name="data")
    from ganlab.cli.study import report_command, study_app

    app.add_typer(study_app, name="study")
    app.command("report")(report_command)
    from ganlab.cli.bench import bench_command

    app.command("bench")(bench_command)
    from ganlab.cli.metrics import eval_command, evaluator_app

    app.command("eval")(eval_command)
    app.add_typer(evaluator_app, name="evaluator")


_mount_subcommands()


def main() -> None:
    """Entry point of the `ganlab` script."""
    app(prog_name="ganlab")
