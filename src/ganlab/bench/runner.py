"""Interleaved timing: A B A B ... in one process, so that a machine shared with other jobs slows
every contender alike, and medians over the rounds compare like with like.

A *case* is a function `run(n)` that performs n training steps and returns once they are done
(it synchronises the device). Cases keep their state between calls, so the timed steps of one
case continue the same training run round after round.
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
from ganlab.errors import GanlabError
from ganlab.train.trainer import build_gan, prepare_batch, train_step

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


# Cases -----------------------------------------------------------------------------------------


def ganlab_case(config: RunConfig, x_train: torch.Tensor, device: torch.device) -> Case:
    """ganlab's own training step, fed as `train()` feeds it: a permutation per epoch, index
    slices of the dataset tensor on the device, scaling on the device, stats kept on the device."""
    torch.manual_seed(config.train.seed)
    gan = build_gan(config, device)
    batch = config.train.batch_size
    steps_per_epoch = -(-len(x_train) // batch)
    state = {"perm": torch.randperm(len(x_train), device=device), "i": 0}

    def run(n: int) -> None:
        stats = []
        for _ in range(n):
            if state["i"] == steps_per_epoch:
                state["perm"], state["i"] = torch.randperm(len(x_train), device=device), 0
            i = state["i"]
            x_real = prepare_batch(x_train[state["perm"][i * batch : (i + 1) * batch]], config)
            stats.append(train_step(gan, x_real, config))
            state["i"] = i + 1
        torch.stack(stats).cpu()  # the trainer reads stats back once per epoch; here once per call

    return run


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


def tutorial_case(baseline: ModuleType, config: RunConfig, images: torch.Tensor, device: torch.device) -> Case:
    """The tutorial loop of `baseline` (its `TutorialGAN`), on CPU images moved per batch."""
    gan = baseline.TutorialGAN(config, images.cpu(), seed=config.train.seed, device=device)

    def run(n: int) -> None:
        for _ in range(n):
            gan.step()  # reads its losses with .item(): synchronised every step, as tutorials are

    return run
