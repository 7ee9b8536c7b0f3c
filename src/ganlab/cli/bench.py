"""`ganlab bench`: the typer command over `ganlab.bench.suite`, which times and records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ganlab.cli.bounds import BENCH_REPEATS, BENCH_RUNS, BENCH_STEPS, THREADS, bounded
from ganlab.cli.console import DeviceOption, ThreadsOption, user_errors
from ganlab.errors import GanlabError

if TYPE_CHECKING:
    from rich.console import Console


@user_errors
@bounded(steps=BENCH_STEPS, repeats=BENCH_REPEATS, runs=BENCH_RUNS, threads=THREADS)
def bench_command(
    target: Annotated[
        str,
        typer.Argument(
            help="Preset to time (fc, conv-g, dcgan, or another MNIST preset the tutorial can train), all, "
            "or tricks (the price of each config of --spec against its control)."
        ),
    ] = "fc",
    steps: Annotated[int, typer.Option("--steps", help=f"Training steps per timing, per loop ({BENCH_STEPS}).")] = 20,
    repeats: Annotated[int, typer.Option("--repeats", help=f"Interleaved rounds (A B A B ...), {BENCH_REPEATS}.")] = 5,
    json_out: Annotated[bool, typer.Option("--json", help="End with one line of JSON holding every number.")] = False,
    study: Annotated[
        bool, typer.Option("--study/--no-study", help="Also measure study throughput (4 FC runs, packed vs naive).")
    ] = True,
    runs: Annotated[int, typer.Option("--runs", help=f"Runs in the study-throughput batch ({BENCH_RUNS}).")] = 4,
    study_preset: Annotated[
        str, typer.Option("--study-preset", help="Preset of the study-throughput runs (seeds 0, 1, ...).")
    ] = "fc",
    threads: ThreadsOption = None,
    device: DeviceOption = None,
    data_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--data-dir",
            help="Data root holding mnist/ (default: $GANLAB_DATA_DIR, then the cache; random pixels if absent).",
            envvar="GANLAB_DATA_DIR",
            file_okay=False,
        ),
    ] = None,
    baseline: Annotated[
        Optional[Path],
        typer.Option(
            "--baseline", help="Tutorial baseline file (default: benchmarks/tutorial_baseline.py).", dir_okay=False
        ),
    ] = None,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile",
            help="Instead: where the step's time goes (torch.profiler; matmuls by kind, activations, optimizer, ...), "
            "at 1 thread and at --threads or torch's default.",
        ),
    ] = False,
    spec: Annotated[
        str, typer.Option("--spec", help="With target tricks: the study spec (name or file) whose configs are timed.")
    ] = "ganhacks",
    keras: Annotated[
        bool,
        typer.Option(
            "--keras/--no-keras",
            help="Also time the study's Keras loop, train_on_batch and XLA, each in its own process "
            "(skipped with a note when TensorFlow is not installed: pip install 'ganlab\\[keras]').",
        ),
    ] = True,
    keras_baseline: Annotated[
        Optional[Path],
        typer.Option(
            "--keras-baseline",
            help="Keras contender script (default: benchmarks/keras_baseline.py).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Time ganlab's training step against a tutorial PyTorch loop and the study's Keras loop, interleaved, and study throughput.

    With --profile, break the step down instead. With --json the last line is one JSON object with
    every number (fields: see ganlab.bench.suite, or ganlab.bench.profile).
    """
    import torch
    from rich.console import Console

    console = Console(stderr=json_out, highlight=False)
    if profile:  # each kind of bench is a function of the options that returns its record
        record = _profile(target, steps, threads, device, data_dir, console)
    elif target == "tricks":
        record = _tricks(spec, steps, repeats, threads, device, data_dir, console)
    else:
        from ganlab.bench.contenders import KERAS_PATH
        from ganlab.bench.runner import BASELINE_PATH
        from ganlab.bench.suite import bench_presets, run_bench, study_configs
        from ganlab.train.engine import default_device

        presets = bench_presets(target)
        configs = study_configs(study_preset, runs) if study else None  # checked before anything is timed
        if threads:
            torch.set_num_threads(threads)
        record = run_bench(
            presets,
            configs,
            steps=steps,
            repeats=repeats,
            device=torch.device(device) if device else default_device(),
            data_dir=data_dir,
            baseline=baseline or BASELINE_PATH,
            keras=(keras_baseline or KERAS_PATH) if keras else None,
            console=console,
        )
    if json_out:
        typer.echo(json.dumps(record))


def _profile(
    target: str, steps: int, threads: int | None, device: str | None, data_dir: Path | None, console: Console
) -> dict:
    """`bench TARGET --profile`: the CPU step of each preset at 1 thread and at `threads` (default:
    torch's count)."""
    import torch

    from ganlab.bench.profile import profile_presets, run_profile

    if device not in (None, "cpu"):
        raise GanlabError(f"bench --profile: profiles the CPU step, not --device {device}")
    counts = sorted({1, threads or torch.get_num_threads()})
    return run_profile(profile_presets(target), counts, steps, data_dir, console)


def _tricks(
    spec: str, steps: int, repeats: int, threads: int | None, device: str | None, data_dir: Path | None, console: Console
) -> dict:
    """`bench tricks`: every config of the study spec `spec` against its control, interleaved."""
    import torch

    from ganlab.bench.runner import bench_data
    from ganlab.bench.tricks import time_tricks, trick_configs
    from ganlab.study.spec import load_spec
    from ganlab.train.engine import default_device

    study = load_spec(spec)
    configs = trick_configs(study)  # checked before anything is loaded or timed
    if threads:
        torch.set_num_threads(threads)
    device_ = torch.device(device) if device else default_device()
    return time_tricks(study, configs, bench_data(data_dir), device_, steps, repeats, console)
