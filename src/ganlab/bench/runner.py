"""Interleaved timing: A B A B ... in one process, so that a machine shared with other jobs slows
every contender alike, and medians over the rounds compare like with like.

A *case* is a function `run(n)` that performs n training steps and returns once they are done
(it synchronises the device). Cases keep their state between calls, so the timed steps of one
case continue the same training run round after round. Cases train on `bench_data()`.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from pathlib import Path
from types import ModuleType
from typing import Callable, NamedTuple

import torch

from ganlab.config import RunConfig
from ganlab.data import load_mnist
from ganlab.errors import GanlabError
from ganlab.train.bundle import Bundle, build_bundle
from ganlab.train.step import Batch, train_step

Case = Callable[[int], None]

BASELINE_PATH = Path(__file__).resolve().parents[3] / "benchmarks" / "tutorial_baseline.py"


class Spread(NamedTuple):
    """Median, min and max of repeated measurements."""

    median: float
    min: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> "Spread":
        return cls(statistics.median(values), min(values), max(values))

    def scaled(self, factor: float) -> "Spread":
        return Spread(self.median * factor, self.min * factor, self.max * factor)


def interleave(
    cases: dict[str, Case],
    steps: int,
    repeats: int,
    warmup: int = 2,
    between: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds per step of each case: `repeats` rounds, each timing `steps` steps of every case.

    Rounds alternate the order (A B C, then C B A) so that a load that rises or falls during the
    measurement biases no case. `between`, if given, runs once per round (e.g. a matmul probe).
    """
    for run in cases.values():
        run(warmup)  # first calls allocate, and pick kernels
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            start = time.perf_counter()
            cases[name](steps)
            seconds[name].append((time.perf_counter() - start) / steps)
        if between is not None:
            between()
    return seconds


# Data and cases --------------------------------------------------------------------------------


class BenchData(NamedTuple):
    """What the cases train on: MNIST's training set on the CPU, and where it came from."""

    images: torch.Tensor  # uint8 (N, 1, 28, 28), pixels 0..255
    labels: torch.Tensor  # int64 (N,)
    source: str


def bench_data(data_dir: Path | None) -> BenchData:
    """MNIST's training set from `data_dir` (or the cache), never downloaded. Timing does not
    depend on the pixels, so without MNIST files random pixels and labels stand in."""
    try:
        mnist = load_mnist("train", data_dir=data_dir, download=False)
        return BenchData(mnist.images, mnist.labels, "MNIST train")
    except GanlabError:
        generator = torch.Generator().manual_seed(0)
        pixels = torch.randint(0, 256, (60_000, 1, 28, 28), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, 10, (60_000,), generator=generator)
        return BenchData(pixels, labels, "random pixels (MNIST not found; timing does not depend on the pixels)")


def steps_per_epoch(config: RunConfig, n: int) -> int:
    """Training steps in an epoch over `n` samples: `n_critic` batches per step, the last kept
    even when smaller, as `train()` counts them."""
    n_batches = -(-n // config.train.batch_size)
    return -(-n_batches // config.train.n_critic)


def ganlab_case(config: RunConfig, data: BenchData, device: torch.device) -> Case:
    """ganlab's own training step, fed as `train()` feeds it: a permutation per epoch, index
    slices of the dataset tensors on the device, scaling on the device, stats kept on the device."""
    return ganlab_run(config, data, device)[1]


def ganlab_run(config: RunConfig, data: BenchData, device: torch.device) -> tuple[Bundle, Case]:
    """`ganlab_case` with the bundle it trains (its networks and optimizers)."""
    torch.manual_seed(config.train.seed)
    bundle = build_bundle(config, device)
    x_train, y_train = data.images.to(device), data.labels.to(device)
    size, n_critic = config.train.batch_size, config.train.n_critic
    n_batches, per_epoch = -(-len(x_train) // size), steps_per_epoch(config, len(x_train))
    state = {"perm": torch.randperm(len(x_train), device=device), "i": 0}

    def batch_at(j: int) -> Batch:
        index = state["perm"][j * size : (j + 1) * size]
        return bundle.spec.prepare(x_train[index], config), y_train[index]

    def run(n: int) -> None:
        stats = []
        for _ in range(n):
            if state["i"] == per_epoch:
                state["perm"], state["i"] = torch.randperm(len(x_train), device=device), 0
            i = state["i"]
            batches = [batch_at(j) for j in range(i * n_critic, min((i + 1) * n_critic, n_batches))]
            stats.append(train_step(bundle, batches))
            state["i"] = i + 1
        torch.stack(stats).cpu()  # the trainer reads stats back once per epoch; here once per call

    return bundle, run


def load_baseline(path: Path = BASELINE_PATH) -> ModuleType:
    """The tutorial baseline module (benchmarks/tutorial_baseline.py in the source checkout)."""
    if not path.is_file():
        raise GanlabError(
            f"tutorial baseline not found at {path}: it lives in the source checkout's benchmarks/ "
            "(pass --baseline PATH)"
        )
    spec = importlib.util.spec_from_file_location("ganlab_tutorial_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tutorial_case(baseline: ModuleType, config: RunConfig, data: BenchData, device: torch.device) -> Case:
    """The tutorial loop of `baseline` (its `TutorialGAN`), on CPU images moved per batch."""
    gan = baseline.TutorialGAN(config, data.images, seed=config.train.seed, device=device)

    def run(n: int) -> None:
        for _ in range(n):
            gan.step()  # reads its losses with .item(): synchronised every step, as tutorials are

    return run
