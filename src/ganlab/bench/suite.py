"""`ganlab bench` as a library: each preset's training step timed against a tutorial PyTorch loop,
then study throughput, gathered into one record.

Per preset: seconds per epoch (median, min, max over the rounds) of the tutorial baseline
(benchmarks/tutorial_baseline.py) and of ganlab's real training step with each G-step noise
semantics (`train.g_noise` fresh and reuse), the speedup, GFLOP per step (`flops.py`), achieved
GFLOP/s and its fraction of the measured fp32 matmul throughput (`matmul.py`); then study
throughput (`study.py`). Freed memory is kept (`ganlab.train.allocator`), as ganlab's training
keeps it; the baseline is timed a second time with glibc's malloc defaults, as a standalone script
runs. With TensorFlow installed, the study's Keras loop (`contenders.py`, train_on_batch and XLA)
is timed in child processes in the same rounds; its first step (tracing, XLA compilation) is
recorded apart. The record:

    {"date", "machine": {cpu, cores, threads, torch, python, device, env},
     "settings": {steps, repeats, data, allocator},
     "matmul_gflop_per_s": {median, min, max},
     "targets": {PRESET: {preset, steps_per_epoch, batch_size, g_noise,
                          baseline, baseline_glibc_malloc, ganlab, ganlab_by_g_noise: {fresh, reuse},
                          speedup, speedup_by_g_noise, speedup_vs_glibc_malloc_baseline,
                          matmul_floor_seconds_per_epoch,
                          contenders: {keras, keras-xla} or contenders_skipped: "why",
                          vs_ganlab: {LOOP: its median s/epoch / ganlab's}}},
     "study": {runs, workers, steps_per_epoch, strategies: {NAME: {epochs_per_hour, how}},
               naive_epochs_per_hour, packed_epochs_per_hour, packed, speedup} or null}

where each loop (baseline, ganlab, ...) is {seconds_per_epoch: {median, min, max}, gflop_per_step,
gflop_per_s, fraction_of_matmul}, a contender's loop also {first_step_seconds, build_seconds,
tracing_seconds (its first step less a steady one)}, and speedup = baseline median s/epoch /
ganlab median s/epoch (ganlab with the preset's own g_noise). A Keras step computes the products
of ganlab's `fresh` step (TensorFlow differentiates only what the trained weights need), so its
GFLOP per step is that one's.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch
from rich.console import Console

from ganlab.bench.contenders import KERAS_PATH, KERAS_VARIANTS, close_all, keras_missing, keras_model_lacks, start_contenders
from ganlab.bench.flops import step_flops, tutorial_step_flops
from ganlab.bench.matmul import DEFAULT_SIZE, matmul_gflops
from ganlab.bench.runner import (
    BASELINE_PATH,
    BenchData,
    Case,
    Spread,
    bench_data,
    ganlab_case,
    interleave,
    load_baseline,
    steps_per_epoch,
    tutorial_case,
)
from ganlab.bench.study import study_throughput
from ganlab.bench.tables import print_study, print_target, spread_text
from ganlab.config import RunConfig, load_preset
from ganlab.errors import GanlabError
from ganlab.train.allocator import keep_freed_memory
from ganlab.train.resume import flatten

ALL = ("fc", "conv-g", "dcgan")  # the presets `bench all` times
ENV_KEYS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS", "KMP_BLOCKTIME")
SEMANTICS = ("fresh", "reuse")  # the values of train.g_noise


def bench_presets(target: str) -> dict[str, RunConfig]:
    """The presets `target` names ("all" or one preset), checked before anything is timed."""
    names = list(ALL) if target == "all" else [target]
    presets = {name: load_preset(name) for name in names}  # an unknown preset fails here, naming the known ones
    for name, config in presets.items():
        if lacks := _beyond_the_tutorial(config):
            raise GanlabError(
                f"bench {name}: the tutorial baseline trains the study's MNIST GANs (no batch norm, an MLP D, "
                f"loss ns, no penalties, one D step per G step) and the DCGAN, not {', '.join(lacks)}"
            )
    return presets


def _beyond_the_tutorial(config: RunConfig) -> list[str]:
    """What in `config` the tutorial loop does not train (it would time a different GAN)."""
    g, d, train = config.model.g, config.model.d, config.train
    lacks = [] if _is_mnist(config) else [f"dataset {config.data.dataset}"]
    lacks += ["batch norm in G"] if g.kind == "mlp" and g.batch_norm else []
    if "dcgan" in (g.kind, d.kind):  # the tutorial's DCGAN: both networks, batch norm in D
        lacks += [f"a {g.kind} G with a {d.kind} D"] if g.kind != d.kind else []
        lacks += ["a dcgan D without batch norm"] if d.kind == "dcgan" and not d.batch_norm else []
    else:
        lacks += [f"a {d.kind} D"] if d.kind != "mlp" else (["batch norm in D"] if d.batch_norm else [])
    lacks += [f"loss {train.loss}"] if train.loss != "ns" else []
    lacks += [f"penalties {', '.join(train.penalties)}"] if train.penalties else []
    lacks += [f"n_critic {train.n_critic}"] if train.n_critic != 1 else []
    switches = flatten(config.model_dump(mode="json"))
    lacks += [f"{key}={switches.get(key)}" for key, off in _SWITCHES_OFF.items() if switches.get(key, off) != off]
    return lacks


# The stabilisers the tutorial loop has no copy of, as they are when off.
_SWITCHES_OFF: dict[str, object] = {
    "train.clip": None, "train.label_smoothing": 0.0, "train.label_flip": 0.0, "train.instance_noise": 0.0,
    "train.replay": 0.0, "train.ema": None, "optim.decay": "none", "model.g.spectral_norm": False,
    "model.d.spectral_norm": False, "model.d.minibatch_std": False, "model.d.pack": 1, "model.conditional": "none",
}  # fmt: skip


def _is_mnist(config: RunConfig) -> bool:
    """The bench loads MNIST itself, as the tutorial loop it races does."""
    from ganlab.data.mnist import MNIST
    from ganlab.data.registry import dataset_spec

    return dataset_spec(config.data.dataset) is MNIST


def study_configs(preset: str, runs: int) -> list[RunConfig]:
    """The study-throughput batch: `runs` runs of `preset`, seeds 0, 1, ..."""
    configs = [load_preset(preset, [f"train.seed={seed}"]) for seed in range(runs)]
    if not _is_mnist(configs[0]):
        raise GanlabError(f"bench --study-preset {preset}: study throughput is measured on MNIST presets")
    return configs


def run_bench(
    presets: dict[str, RunConfig],
    study: list[RunConfig] | None,
    *,
    steps: int,
    repeats: int,
    device: torch.device,
    data_dir: Path | None,
    baseline: Path = BASELINE_PATH,
    keras: Path | None = KERAS_PATH,
    console: Console,
) -> dict:
    """Time every preset, then (with `study` configs) study throughput; print tables on `console`
    as each part ends, and return the record described in this module's docstring. `keras`: the
    Keras contenders' script, None to leave them out."""
    allocator = keep_freed_memory()  # as ganlab's trainer runs; the baseline gets it too (same process)
    data = bench_data(data_dir)
    module = load_baseline(baseline)
    machine = machine_info(device)
    console.print(
        f"ganlab bench: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} threads, "
        f"torch {machine['torch']}, device {machine['device']}; data: {data.source}"
    )
    matmul: list[float] = []

    def probe() -> None:
        matmul.append(matmul_gflops(device=device))

    probe()
    targets = {}
    with tempfile.TemporaryDirectory(prefix="ganlab-bench-") as folder:
        for name, config in presets.items():
            skipped = _keras_skipped(config, device) if keras else "left out (--no-keras)"
            if skipped:
                console.print(f"{name}: Keras contenders skipped: {skipped}", soft_wrap=True, markup=False)  # one line
            console.print(f"timing {name}: {repeats} rounds x {steps} steps per loop ...")
            keras_run = None if skipped or keras is None else (keras, Path(folder))
            record = time_preset(name, config, module, data, device, steps, repeats, probe, matmul, allocator, keras_run)
            targets[name] = record | ({"contenders_skipped": skipped} if skipped else {})
            print_target(console, name, targets[name])

    study_record = None
    if study:
        console.print(
            f"timing study throughput: {len(study)} {study[0].name} runs, {repeats} rounds x {steps} steps ..."
        )
        study_record = study_throughput(study, data, device, steps, repeats, between=probe, data_dir=data_dir)
        print_study(console, study_record)
    record = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "settings": {
            "steps": steps,
            "repeats": repeats,
            "data": data.source,
            "allocator": "keep_freed_memory" if allocator else "default",
        },
        "matmul_gflop_per_s": Spread.of(matmul)._asdict(),
        "targets": targets,
        "study": study_record,
    }
    matmul_text = spread_text(record["matmul_gflop_per_s"], "{:.0f}")
    console.print(f"matmul fp32 ({DEFAULT_SIZE}^3): {matmul_text} GFLOP/s")
    return record


def _keras_skipped(config: RunConfig, device: torch.device) -> str | None:
    """Why the Keras contenders cannot race this preset here, or None."""
    if device.type != "cpu":
        return f"they run on the CPU (tensorflow-cpu), not {device}"
    return keras_missing() or keras_model_lacks(config)


def time_preset(
    name: str,
    config: RunConfig,
    baseline: ModuleType,
    data: BenchData,
    device: torch.device,
    steps: int,
    repeats: int,
    probe: Callable[[], None],
    matmul: list[float],
    allocator: bool,
    keras: tuple[Path, Path] | None = None,
) -> dict:
    """The record of one preset: the tutorial loop and ganlab's step with each g_noise, and with
    `keras` (script, folder for the pixels) the Keras contenders, interleaved."""
    per_epoch = steps_per_epoch(config, len(data.images))
    configs = {g_noise: load_preset(name, [f"train.g_noise={g_noise}"]) for g_noise in SEMANTICS}
    cases: dict[str, Case] = {"baseline": tutorial_case(baseline, config, data, device)}
    cases |= {g_noise: ganlab_case(configs[g_noise], data, device) for g_noise in SEMANTICS}
    if allocator:  # the baseline once more, with malloc as a standalone tutorial script has it
        cases["baseline_glibc_malloc"] = _with_glibc_defaults(tutorial_case(baseline, config, data, device))
    children = {}
    if keras is not None:
        script, folder = keras
        children = start_contenders(KERAS_VARIANTS, script, config, data, torch.get_num_threads(), folder)
    try:
        cases |= {child_name: child.case() for child_name, child in children.items()}
        seconds = interleave(cases, steps, repeats, between=probe)
    finally:
        close_all(children)
    tutorial_flops = tutorial_step_flops(baseline, config)
    flops = {"baseline": tutorial_flops, "baseline_glibc_malloc": tutorial_flops}
    flops |= {g_noise: step_flops(configs[g_noise]) for g_noise in SEMANTICS}
    flops |= {child_name: flops["fresh"] for child_name in children}  # see the module's docstring
    peak = Spread.of(matmul).median
    loops = {loop: _loop_record(Spread.of(values), per_epoch, flops[loop], peak) for loop, values in seconds.items()}
    ours = config.train.g_noise
    baseline_median = loops["baseline"]["seconds_per_epoch"]["median"]
    record = {
        "preset": name,
        "steps_per_epoch": per_epoch,
        "batch_size": config.train.batch_size,
        "g_noise": ours,
        "baseline": loops["baseline"],
        "ganlab": loops[ours],
        "ganlab_by_g_noise": {g: loops[g] for g in SEMANTICS},
        "speedup": baseline_median / loops[ours]["seconds_per_epoch"]["median"],
        "speedup_by_g_noise": {g: baseline_median / loops[g]["seconds_per_epoch"]["median"] for g in SEMANTICS},
        "matmul_floor_seconds_per_epoch": flops[ours] * per_epoch / (peak * 1e9),
    }
    if children:
        record["contenders"] = {
            child_name: loops[child_name] | _first_step(child.build_seconds, child.first_step_seconds, Spread.of(seconds[child_name]))
            for child_name, child in children.items()
        }
    ours_median = loops[ours]["seconds_per_epoch"]["median"]
    record["vs_ganlab"] = {loop: values["seconds_per_epoch"]["median"] / ours_median for loop, values in loops.items()}
    if "baseline_glibc_malloc" in loops:
        standalone = loops["baseline_glibc_malloc"]
        record["baseline_glibc_malloc"] = standalone
        record["speedup_vs_glibc_malloc_baseline"] = (
            standalone["seconds_per_epoch"]["median"] / loops[ours]["seconds_per_epoch"]["median"]
        )
    return record


def _first_step(build: float, first: float, per_step: Spread) -> dict:
    """A contender's set-up seconds, its first step's, and the tracing in it (less a steady step)."""
    return {"build_seconds": build, "first_step_seconds": first, "tracing_seconds": first - per_step.median}


def _with_glibc_defaults(case: Case) -> Case:
    """A case run with glibc's malloc thresholds, restoring ganlab's setting afterwards."""

    def run(n: int) -> None:
        keep_freed_memory(False)
        try:
            case(n)
        finally:
            keep_freed_memory(True)

    return run


def _loop_record(seconds_per_step: Spread, steps_per_epoch: int, flops: float, peak: float) -> dict:
    achieved = flops / seconds_per_step.median / 1e9
    return {
        "seconds_per_epoch": seconds_per_step.scaled(steps_per_epoch)._asdict(),
        "gflop_per_step": flops / 1e9,
        "gflop_per_s": achieved,
        "fraction_of_matmul": achieved / peak,
    }


def machine_info(device: torch.device) -> dict:
    """CPU model, cores, threads, versions and device, for the record."""
    info = {
        "cpu": _cpu_name(),
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


def _cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, else what the platform module knows."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux
        lines = []
    for line in lines:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
