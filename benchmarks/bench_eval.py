"""Time a full evaluation: 10,000 generated-like images (MNIST test digits plus noise), all metrics.

    python benchmarks/bench_eval.py [--n 10000] [--data-dir ../shared/datasets] [--cache-dir DIR]

Prints the one-off cost of the reference arrays (evaluator features of the 10,000 test and
60,000 training images, k-NN radii, test-to-train distances; cached on disk afterwards), then
the cost of each evaluation with a warm cache, split into feature extraction and each metric.
A fresh cache directory (default: a temp dir) makes the cold figure honest. Each figure is
wall-clock seconds and, in brackets, the process's CPU seconds (all threads): on a shared,
busy machine the wall clock overstates the cost, the CPU time does not.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from ganlab.data.mnist import load_mnist
from ganlab.metrics.suite import _GROUPS, FLOOR_MAX, MetricSuite


class Timer:
    """Wall-clock and process CPU seconds since the last `lap()`."""

    def __init__(self) -> None:
        self.lap()

    def lap(self) -> str:
        now = (time.perf_counter(), time.process_time())
        text = f"{now[0] - self.t[0]:.1f} s [cpu {now[1] - self.t[1]:.1f} s]" if hasattr(self, "t") else ""
        self.t = now
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="generated-like images to score")
    default_data = os.environ.get("GANLAB_DATA_DIR") or str(Path(__file__).resolve().parents[2] / "shared" / "datasets")
    parser.add_argument("--data-dir", type=Path, default=Path(default_data), help="data root holding mnist/")
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache (default: a fresh temp dir)")
    args = parser.parse_args()
    if args.cache_dir is not None:
        run(args, args.cache_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="ganlab-bench-") as cache:  # tens of MB: not left behind
            run(args, Path(cache))


def run(args: argparse.Namespace, cache: Path) -> None:
    """Time the evaluation of `args.n` noisy test digits, with the feature cache in `cache`."""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; cache {cache}")
    test = load_mnist("test", args.data_dir)
    g = torch.Generator().manual_seed(0)
    x = test.images.float() / 255
    index = torch.randint(len(x), (args.n,), generator=g)
    images = (x[index] + 0.1 * torch.randn(args.n, 1, 28, 28, generator=g)).clamp(0, 1)

    suite = MetricSuite(data_dir=args.data_dir, cache_dir=cache)
    timer = Timer()
    suite.prepare()
    print(f"reference arrays (once per evaluator and machine): {timer.lap()}")

    scores = suite(images)
    print(f"full evaluation, {args.n} images, all metrics, warm cache: {timer.lap()}")

    feats = suite.features(images)
    print(f"  features: {timer.lap()}")
    for group, names in _GROUPS.items():
        part = MetricSuite(list(names), data_dir=args.data_dir, cache_dir=cache)
        part._evaluator = suite.evaluator
        timer.lap()
        part.score_features(feats)
        print(f"  {group}: {timer.lap()}")

    floor = suite.real_floor(min(args.n, FLOOR_MAX))
    print(f"real-data floor (first time; cached after): {timer.lap()}")
    width = max(map(len, scores))
    for name, value in scores.items():
        print(f"  {name:<{width}}  model {value:10.4f}   floor {floor[name]:10.4f}")


if __name__ == "__main__":
    main()
