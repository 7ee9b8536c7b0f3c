"""`ganlab bench`: ganlab's training step against a tutorial PyTorch loop, and study throughput.

Per preset it prints seconds per epoch (median, min, max over the rounds) of the tutorial baseline
(benchmarks/tutorial_baseline.py) and of ganlab's real `train_step` with each G-step noise
semantics (`train.g_noise` fresh and reuse), the speedup, GFLOP per step (`flops.py`), achieved
GFLOP/s and its fraction of the measured fp32 matmul throughput (`matmul.py`); then study
throughput (`study.py`). The process keeps freed memory (`ganlab.train.allocator`), as ganlab's training
should; the baseline is timed a second time with glibc's malloc defaults, as a standalone script
runs. With --json the last line is one JSON object:

    {"date", "machine": {cpu, cores, threads, torch, python, device, env},
     "settings": {steps, repeats, data, allocator},
     "matmul_gflop_per_s": {median, min, max},
     "targets": {PRESET: {preset, steps_per_epoch, batch_size, g_noise,
                          baseline, baseline_glibc_malloc, ganlab, ganlab_by_g_noise: {fresh, reuse},
                          speedup, speedup_by_g_noise, speedup_vs_glibc_malloc_baseline,
                          matmul_floor_seconds_per_epoch}},
     "study": {runs, workers, steps_per_epoch, strategies: {NAME: {epochs_per_hour, how}},
               naive_epochs_per_hour, packed_epochs_per_hour, packed, speedup} or null}

where each loop (baseline, ganlab, ...) is {seconds_per_epoch: {median, min, max}, gflop_per_step,
gflop_per_s, fraction_of_matmul}, and speedup = baseline median s/epoch / ganlab median s/epoch
(ganlab with the preset's own g_noise).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from ganlab.cli.console import DeviceOption, ThreadsOption, user_errors
from ganlab.errors import GanlabError

ALL = ("fc", "conv-g")  # the presets `bench all` times
ENV_KEYS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS", "KMP_BLOCKTIME")



@user_errors
def bench_command(
    target: Annotated[
        str, typer.Argument(help="Preset to time (fc, conv-g, or any MNIST preset without batch norm), or all.")
    ] = "fc",
    steps: Annotated[int, typer.Option("--steps", min=1, help="Training steps per timing, per loop.")] = 20,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Interleaved rounds (A B A B ...).")] = 5,
    json_out: Annotated[bool, typer.Option("--json", help="End with one line of JSON holding every number.")] = False,
    study: Annotated[
        bool, typer.Option("--study/--no-study", help="Also measure study throughput (4 FC runs, packed vs naive).")
    ] = True,
    runs: Annotated[int, typer.Option("--runs", min=2, help="Runs in the study-throughput batch.")] = 4,
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
) -> None:
    """Time ganlab's training step against a tutorial PyTorch loop, interleaved in one process, and study throughput.

    With --json the last line is one JSON object with every number (fields: see ganlab.cli.bench).
    """
    import torch

    from ganlab.train.allocator import keep_freed_memory
    from ganlab.bench.flops import step_flops
    from ganlab.bench.matmul import matmul_gflops
    from ganlab.bench.runner import BASELINE_PATH, Spread, ganlab_case, interleave, load_baseline, tutorial_case
    from ganlab.config import load_preset
    from ganlab.train.engine import default_device

    names = list(ALL) if target == "all" else [target]
    presets = {name: load_preset(name) for name in names}  # an unknown preset fails here, naming the known ones
    for name, config in presets.items():
        if config.data.dataset != "mnist" or (config.model.g.kind == "mlp" and config.model.g.batch_norm):
            raise GanlabError(f"bench {name}: the tutorial baseline covers MNIST presets without batch norm")
    if study:  # checked before anything is timed, not half an hour in
        from ganlab.train.stacked import check_stackable

        configs_study = [load_preset(study_preset, [f"train.seed={seed}"]) for seed in range(runs)]
        if configs_study[0].data.dataset != "mnist":
            raise GanlabError(f"bench --study-preset {study_preset}: study throughput is measured on MNIST presets")
        check_stackable(configs_study)
    if threads:
        torch.set_num_threads(threads)
    torch_device = torch.device(device) if device else default_device()
    allocator = keep_freed_memory()  # as ganlab's trainer runs; the baseline gets it too (same process)
    console = Console(stderr=json_out, highlight=False)
    images, source = bench_images(data_dir)
    module = load_baseline(baseline or BASELINE_PATH)
    machine = machine_info(torch_device)
    console.print(
        f"ganlab bench: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} threads, "
        f"torch {machine['torch']}, device {machine['device']}; data: {source}"
    )

    matmul: list[float] = []

    def probe() -> None:
        matmul.append(matmul_gflops(device=torch_device))

    probe()
    targets = {}
    for name, config in presets.items():
        x_train = images.to(torch_device)
        steps_per_epoch = -(-len(images) // config.train.batch_size)
        semantics = ("fresh", "reuse")
        configs = {g_noise: load_preset(name, [f"train.g_noise={g_noise}"]) for g_noise in semantics}
        cases = {"baseline": tutorial_case(module, config, images, torch_device)}
        cases |= {g_noise: ganlab_case(configs[g_noise], x_train, torch_device) for g_noise in semantics}
        if allocator:  # the baseline once more, with malloc as a standalone tutorial script has it
            cases["baseline_glibc_malloc"] = _with_glibc_defaults(tutorial_case(module, config, images, torch_device))
        console.print(f"timing {name}: {len(cases)} loops x {repeats} rounds x {steps} steps ...")
        seconds = interleave(cases, steps, repeats, between=probe)
        flops = {"baseline": step_flops(config, "tutorial"), "baseline_glibc_malloc": step_flops(config, "tutorial")}
        flops |= {g: step_flops(configs[g]) for g in semantics}
        peak = Spread.of(matmul).median
        loops = {
            loop: _loop_record(Spread.of(values), steps_per_epoch, flops[loop], peak)
            for loop, values in seconds.items()
        }
        ours = config.train.g_noise
        baseline_median = loops["baseline"]["seconds_per_epoch"]["median"]
        targets[name] = {
            "preset": name,
            "steps_per_epoch": steps_per_epoch,
            "batch_size": config.train.batch_size,
            "g_noise": ours,
            "baseline": loops["baseline"],
            "ganlab": loops[ours],
            "ganlab_by_g_noise": {g: loops[g] for g in semantics},
            "speedup": baseline_median / loops[ours]["seconds_per_epoch"]["median"],
            "speedup_by_g_noise": {g: baseline_median / loops[g]["seconds_per_epoch"]["median"] for g in semantics},
            "matmul_floor_seconds_per_epoch": flops[ours] * steps_per_epoch / (peak * 1e9),
        }
        if "baseline_glibc_malloc" in loops:
            standalone = loops["baseline_glibc_malloc"]
            targets[name]["baseline_glibc_malloc"] = standalone
            targets[name]["speedup_vs_glibc_malloc_baseline"] = (
                standalone["seconds_per_epoch"]["median"] / loops[ours]["seconds_per_epoch"]["median"]
            )
        _print_target(console, name, targets[name])

    study_record = None
    if study:
        from ganlab.bench.study import study_throughput

        console.print(f"timing study throughput: {runs} {study_preset} runs, {repeats} rounds x {steps} steps ...")
        study_record = study_throughput(
            configs_study, images, torch_device, steps, repeats, between=probe, data_dir=data_dir
        )
        _print_study(console, study_record)

    record = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "settings": {
            "steps": steps,
            "repeats": repeats,
            "data": source,
            "allocator": "keep_freed_memory" if allocator else "default",
        },
        "matmul_gflop_per_s": Spread.of(matmul)._asdict(),
        "targets": targets,
        "study": study_record,
    }
    console.print(f"matmul fp32 ({_size()}^3): " + _spread(record["matmul_gflop_per_s"], "{:.0f}") + " GFLOP/s")
    if json_out:
        typer.echo(json.dumps(record))


def _with_glibc_defaults(case):
    """A case run with glibc's malloc thresholds, restoring ganlab's setting afterwards."""
    from ganlab.train.allocator import keep_freed_memory

    def run(n: int) -> None:
        keep_freed_memory(False)
        try:
            case(n)
        finally:
            keep_freed_memory(True)

    return run


def _size() -> int:
    from ganlab.bench.matmul import DEFAULT_SIZE

    return DEFAULT_SIZE


def _loop_record(seconds_per_step, steps_per_epoch: int, flops: float, peak: float) -> dict:
    per_epoch = seconds_per_step.scaled(steps_per_epoch)
    achieved = flops / seconds_per_step.median / 1e9
    return {
        "seconds_per_epoch": per_epoch._asdict(),
        "gflop_per_step": flops / 1e9,
        "gflop_per_s": achieved,
        "fraction_of_matmul": achieved / peak,
    }


def _spread(s: dict, fmt: str) -> str:
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"


def _print_target(console: Console, name: str, rec: dict) -> None:
    table = Table(title=f"{name}: {rec['steps_per_epoch']} steps per epoch, batch {rec['batch_size']}")
    for column in ("loop", "s/epoch median (min-max)", "GFLOP/step", "GFLOP/s", "of matmul", "speedup"):
        table.add_column(column, justify="left" if column == "loop" else "right")
    rows = [("tutorial baseline", rec["baseline"], 1.0)]
    if "baseline_glibc_malloc" in rec:
        standalone = rec["baseline_glibc_malloc"]
        ratio = standalone["seconds_per_epoch"]["median"] / rec["baseline"]["seconds_per_epoch"]["median"]
        rows.append(("tutorial, glibc malloc defaults", standalone, 1 / ratio))
    for g_noise, loop in rec["ganlab_by_g_noise"].items():
        label = f"ganlab, g_noise {g_noise}" + (" (preset)" if g_noise == rec["g_noise"] else "")
        rows.append((label, loop, rec["speedup_by_g_noise"][g_noise]))
    for label, loop, speedup in rows:
        table.add_row(
            label,
            _spread(loop["seconds_per_epoch"], "{:.1f}"),
            f"{loop['gflop_per_step']:.2f}",
            f"{loop['gflop_per_s']:.0f}",
            f"{loop['fraction_of_matmul']:.0%}",
            f"{speedup:.2f}x",
        )
    console.print(table)
    console.print(f"matmul-only floor for the preset's step: {rec['matmul_floor_seconds_per_epoch']:.1f} s/epoch")
    if "speedup_vs_glibc_malloc_baseline" in rec:
        console.print(
            f"speedup against the tutorial with glibc's malloc defaults (as a standalone script runs): "
            f"{rec['speedup_vs_glibc_malloc_baseline']:.2f}x"
        )


def _print_study(console: Console, rec: dict) -> None:
    table = Table(title=f"study throughput: {rec['runs']} runs, run-epochs per hour")
    for column in ("strategy", "how", "epochs/hour median (min-max)", "vs naive"):
        table.add_column(column, justify="left" if column in ("strategy", "how") else "right")
    naive = rec["naive_epochs_per_hour"]
    for name, strategy in rec["strategies"].items():
        rate = strategy["epochs_per_hour"]
        table.add_row(name, strategy["how"], _spread(rate, "{:.0f}"), f"{rate['median'] / naive:.2f}x")
    console.print(table)
    console.print(f"packed ({rec['packed']}) / naive: {rec['speedup']:.2f}x")


def bench_images(data_dir: Path | None):
    """(uint8 (N, 1, 28, 28) MNIST training images, where they came from). Timing does not
    depend on the pixels, so without MNIST files (and no download) random pixels stand in."""
    import torch

    from ganlab.data.datasets import load_mnist

    try:
        return load_mnist("train", data_dir=data_dir, download=False).images, "MNIST train"
    except GanlabError:
        generator = torch.Generator().manual_seed(0)
        pixels = torch.randint(0, 256, (60_000, 1, 28, 28), dtype=torch.uint8, generator=generator)
        return pixels, "random pixels (MNIST not found; timing does not depend on the pixels)"


def machine_info(device) -> dict:
    """CPU model, cores, threads, versions and device, for the record."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        # Threading settings read at start-up by OpenMP/MKL: they change these timings a lot on a
        # shared machine (spinning OpenMP threads stall when a core is taken by another job).
        "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
