"""FLOPs of one training step, counted by `torch.utils.flop_counter.FlopCounterMode` while the
real step runs once on the real modules (on the CPU, in eager mode).

The counter counts matrix products and convolutions, forward and backward, as 2 FLOPs per
multiply-add: over 97% of a step's arithmetic (activations, losses and Adam are
O(activations + parameters), a few MFLOP, and are not counted). It counts what autograd really
computes, so a backward pass only has the products it needs: no input gradient for a network's
first layer when its input is data or noise, and no weight gradients for D in ganlab's G step.

The study's FC GAN (G 100-128-256-512-1024-784, D 784-1024-512-256-128-1, batch 128) costs
4.18 GFLOP per ganlab step with `g_noise: fresh`, 3.79 with `reuse`, and 4.56 in the tutorial
loop, which also computes D's weight gradients in its G step (tests/test_bench.py checks these
against a hand count).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import torch
from torch.utils.flop_counter import FlopCounterMode

from ganlab.bench.runner import BenchData, ganlab_case, tutorial_case
from ganlab.config import RunConfig

CPU = torch.device("cpu")


def count_flops(work: Callable[[], object]) -> int:
    """FLOPs of the matrix products and convolutions that `work()` runs."""
    with FlopCounterMode(display=False) as counter:
        work()
    return counter.get_total_flops()


def step_flops(config: RunConfig, batch: int | None = None) -> float:
    """FLOPs of one ganlab training step (`n_critic` D updates and a G update) on batches of
    `batch` samples (default: the config's batch size), as `ganlab bench` times it."""
    data = _blank_data(config, batch)
    with torch.random.fork_rng(devices=[]):  # building the networks draws from the global RNG
        case = ganlab_case(config, data, CPU)
        return float(count_flops(lambda: case(1)))


def tutorial_step_flops(baseline: ModuleType, config: RunConfig, batch: int | None = None) -> float:
    """FLOPs of one step of the tutorial loop in `baseline` (benchmarks/tutorial_baseline.py)."""
    data = _blank_data(config, batch)
    with torch.random.fork_rng(devices=[]):
        case = tutorial_case(baseline, config, data, CPU)
        return float(count_flops(lambda: case(1)))


def _blank_data(config: RunConfig, batch: int | None) -> BenchData:
    """Blank MNIST images for one step, `n_critic` batches: FLOPs depend on shapes only."""
    n = (batch or config.train.batch_size) * config.train.n_critic
    images = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    return BenchData(images, torch.zeros(n, dtype=torch.int64), "blank")
