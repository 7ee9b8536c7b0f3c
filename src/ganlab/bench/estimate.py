"""How long a study will take on this machine, before it starts (`ganlab study run --dry-run`).

The training step of each distinct architecture is timed for a few steps as `ganlab bench` times
it (`ganlab.bench.runner.ganlab_case`, with each worker's share of threads), and one evaluation
during training per dataset (its second call: the first loads the evaluator and its cached
reference features). A run then costs its remaining steps times its step time, plus its
evaluations during training, plus the final one on `eval_n` samples (taken as proportional to the
number of samples: a rough figure, said so). The runs are packed onto the workers longest first,
as the runner starts them, which gives the wall time.
"""

from __future__ import annotations

import heapq
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from ganlab.bench.runner import BenchData, bench_data, ganlab_case, steps_per_epoch
from ganlab.config import RunConfig
from ganlab.data.mnist import MNIST
from ganlab.data.registry import dataset_spec
from ganlab.errors import GanlabError
from ganlab.train.bundle import build_bundle
from ganlab.train.evaluation import make_evaluator, score

# Fields that do not change what a training step computes: configs that differ only in these
# share one timing.
NOT_ARCHITECTURE = {"name", "description", "monitor"}
NOT_TRAINING = {
    "seed", "epochs", "eval_every", "eval_samples", "eval_metrics", "keep_weights_at", "log_every", "tensorboard",
}  # fmt: skip


def architecture_key(config: RunConfig) -> str:
    """What decides a config's step time: the config without its name, seed, length, evaluation
    and monitor settings (and learning rates, which cost nothing)."""
    data = config.model_dump(mode="json")
    for name in NOT_ARCHITECTURE:
        data.pop(name, None)
    data["train"] = {k: v for k, v in data.get("train", {}).items() if k not in NOT_TRAINING}
    for optimizer in (data.get("optim") or {}).values():
        if isinstance(optimizer, dict):
            optimizer.pop("lr", None)
    return json.dumps(data, sort_keys=True)


def makespan(durations: Iterable[float], workers: int) -> float:
    """The wall time of jobs started longest first, each on the first worker free (as the
    runner submits them to its pool of `workers`)."""
    finish = [0.0] * max(1, workers)
    for seconds in sorted(durations, reverse=True):
        heapq.heapreplace(finish, finish[0] + seconds)
    return max(finish)


def evaluations(config: RunConfig, epochs_done: int) -> int:
    """Evaluations still due during training: every `eval_every` epochs, after each epoch whose
    weights are kept, and after the last."""
    every, epochs = config.train.eval_every, config.train.epochs
    if every == 0:
        return 0
    due = {e for e in range(epochs_done + 1, epochs + 1) if e % every == 0 or e in (epochs, *config.train.keep_weights_at)}
    return len(due)


@dataclass
class Timings:
    """Seconds per training step by architecture key, steps per epoch by dataset, and seconds
    per evaluation during training by dataset (None: could not be timed)."""

    step: dict[str, float] = field(default_factory=dict)
    steps_per_epoch: dict[str, int] = field(default_factory=dict)
    evaluation: dict[str, float | None] = field(default_factory=dict)
    startup: float = 0.0  # seconds for a worker process to import ganlab and torch
    notes: list[str] = field(default_factory=list)


def _train_data(config: RunConfig, data_dir: Path | None, device: torch.device) -> BenchData:
    spec = dataset_spec(config.data.dataset)
    if spec is MNIST:
        return bench_data(data_dir)  # random pixels stand in when MNIST is not here: same time
    x, y = spec.load(config, "train", data_dir, device, False)
    return BenchData(x, y, config.data.dataset)


def time_plan(
    configs: list[RunConfig],
    data_dir: Path | None,
    device: torch.device,
    threads: int,
    steps: int = 5,
    on_config: Callable[[RunConfig], None] | None = None,
    evaluate: bool = True,
) -> Timings:
    """Time `steps` training steps (after 2 of warm-up) of each distinct architecture among
    `configs`, and with `evaluate` one evaluation per dataset, with `threads` torch threads."""
    timings = Timings()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    data: dict[str, BenchData] = {}
    try:
        for config in configs:
            key, dataset = architecture_key(config), config.data.dataset
            if key in timings.step:
                continue
            if on_config is not None:
                on_config(config)
            if dataset not in data:
                data[dataset] = _train_data(config, data_dir, device)
                if data[dataset].source.startswith("random"):
                    timings.notes.append(f"{dataset}: {data[dataset].source}")
            n = len(data[dataset].images)
            timings.steps_per_epoch[dataset] = steps_per_epoch(config, n)
            run = ganlab_case(config, data[dataset], device)
            run(2)  # first calls allocate and pick kernels
            start = time.perf_counter()
            run(steps)
            timings.step[key] = (time.perf_counter() - start) / steps
            if evaluate and dataset not in timings.evaluation:
                timings.evaluation[dataset] = _time_evaluation(config, data_dir, device, timings.notes)
    finally:
        torch.set_num_threads(previous)
    return timings


def _time_evaluation(config: RunConfig, data_dir: Path | None, device: torch.device, notes: list[str]) -> float | None:
    if config.train.eval_every == 0:
        return 0.0
    try:
        evaluate = make_evaluator(config, dataset_spec(config.data.dataset), data_dir, device)
    except GanlabError as err:  # no evaluator weights or no MNIST: the estimate says it leaves them out
        notes.append(f"evaluations not timed ({err}): the estimate leaves them out")
        return None
    bundle = build_bundle(config, device)
    score(evaluate, bundle)  # loads the scorer's references
    start = time.perf_counter()
    score(evaluate, bundle)
    return time.perf_counter() - start


@dataclass(frozen=True)
class RunEstimate:
    """The seconds a run still needs: training steps, evaluations during training, final eval."""

    train: float
    evaluations: float
    final: float
    startup: float = 0.0

    @property
    def total(self) -> float:
        return self.train + self.evaluations + self.final + self.startup


def estimate_run(config: RunConfig, epochs_done: int, eval_n: int, timings: Timings) -> RunEstimate:
    """A run's remaining seconds from `timings` (see the module's docstring); a run that keeps
    its weights at shorter configs' epochs (a study's nested run) is scored at each of them too."""
    dataset = config.data.dataset
    steps = (config.train.epochs - epochs_done) * timings.steps_per_epoch[dataset]
    per_eval = timings.evaluation.get(dataset) or 0.0
    scored = 1 + len(config.train.keep_weights_at)
    final = scored * per_eval * eval_n / config.train.eval_samples if config.train.eval_every else 0.0
    train = steps * timings.step[architecture_key(config)]
    return RunEstimate(train, evaluations(config, epochs_done) * per_eval, final, timings.startup)


def duration(seconds: float) -> str:
    """'45 s', '12 min', '3 h 05 min'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def summary(estimates: list[RunEstimate], workers: int, threads: int) -> dict[str, Any]:
    """Wall time with `workers`, worker time, and its split into training and evaluation."""
    return {
        "wall": makespan([e.total for e in estimates], workers),
        "worker": sum(e.total for e in estimates),
        "train": sum(e.train for e in estimates),
        "eval": sum(e.evaluations + e.final for e in estimates),
        "workers": workers,
        "threads": threads,
    }


def eta(elapsed: float, done: float, done_at_start: float, total: float) -> float | None:
    """Seconds left, from the pace of this session: work done since it started (in any unit,
    e.g. timed epoch costs) over the time it took; None before any work is done."""
    progress = done - done_at_start
    if progress <= 0 or elapsed <= 0:
        return None
    return max(0.0, total - done) * elapsed / progress


def estimate_tasks(
    work: list[tuple[RunConfig, int]],
    eval_n: int,
    data_dir: Path | None,
    device: str | None,
    threads: int,
    evaluate: bool = True,
    on_config: Callable[[RunConfig], None] | None = None,
) -> tuple[list[RunEstimate], Timings]:
    """The remaining seconds of each (config, epochs done) of a plan, timed on this machine."""
    from ganlab.train.engine import default_device

    torch_device = torch.device(device) if device else default_device()
    timings = time_plan([config for config, _ in work], data_dir, torch_device, threads, on_config=on_config, evaluate=evaluate)
    if evaluate and work:  # a worker process's start (Python, torch and ganlab's imports), timed once
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import ganlab.api.run, ganlab.train.loop"], check=False, capture_output=True)
        timings.startup = time.perf_counter() - start
    return [estimate_run(config, done, eval_n, timings) for config, done in work], timings
