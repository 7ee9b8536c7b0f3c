"""Bounds on the numeric options that size work or memory, checked before a command does anything.

Each limit is far beyond what a real use needs and low enough that the work or memory it allows
stays bounded, so a typo (`--n 100000000000`, `--epochs-scale inf`) is a one-line error naming
the option and its range (exit 2) instead of a process that grows until it is killed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, TypeVar

from ganlab.errors import GanlabError

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Bound:
    """The allowed values of a numeric option: low..high, both included; `above`: low excluded."""

    low: float
    high: float
    above: bool = False

    def __str__(self) -> str:
        if self.above:
            return f"a number > {_number(self.low)} and <= {_number(self.high)}"
        return f"{_number(self.low)}..{_number(self.high)}"

    def check(self, option: str, value: float) -> None:
        """Raise GanlabError naming `option`, this range and `value` when `value` is outside it
        (NaN and infinities always are)."""
        low_ok = value > self.low if self.above else value >= self.low
        if not (math.isfinite(value) and low_ok and value <= self.high):
            raise GanlabError(f"{option}: expected {self}, got {value}")


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


# Seeds go to numpy as well as torch, and numpy takes 0..2**32-1.
SEED = Bound(0, 2**32 - 1)
# A picture of samples: a 64 x 64 grid at most.
SAMPLES = Bound(1, 4096)
# Samples scored: the k-NN metrics need more than 10; 100,000 (ten times the README's 10,000)
# hold about 0.4 GB of images and features, and the k-NN distances are computed in blocks.
EVAL_N = Bound(11, 100_000)
THREADS = Bound(1, 1024)
WORKERS = Bound(1, 256)  # worker processes of a study, each holding its own model and data
SEEDS = Bound(1, 100)  # seeds per config of a study: a run each
EPOCHS_SCALE = Bound(0, 100, above=True)  # of a study's epochs: 300-epoch presets become 30,000
MAX_FRAMES = Bound(1, 1000)  # frames per sample GIF of a report
EVALUATOR_EPOCHS = Bound(1, 1000)  # the committed recipe trains 6
HOLDOUT = Bound(0, 59_999)  # MNIST has 60,000 training images, and the evaluator needs some
BENCH_STEPS = Bound(1, 100_000)
BENCH_REPEATS = Bound(1, 1000)
BENCH_RUNS = Bound(2, 64)


def bounded(**bounds: Bound) -> Callable[[F], F]:
    """Check a command's numeric parameters, by name, against their bounds before it runs; a
    parameter left at None (not given) is not checked. The message names the option as
    `--name-with-dashes`. Goes under `user_errors`, which prints the error in one line."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: object, **kwargs: object) -> object:
            for name, bound in bounds.items():
                value = kwargs.get(name)
                if isinstance(value, (int, float)):
                    bound.check("--" + name.replace("_", "-"), value)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
