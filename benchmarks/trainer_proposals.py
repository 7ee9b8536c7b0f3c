"""Ablate the speed choices of ganlab's training step, and measure proposals before they go in.

    python benchmarks/trainer_proposals.py [fc|conv-g] [--steps N] [--repeats R] [--threads T] [--data-dir D]

Each variant is ganlab's real `build_bundle` + `train_step`, with one choice undone (or a proposal
applied) at run time only, and all variants are timed interleaved in one process (A B C A B C ...):

- current:       the code as it is (fused optimizers, channels_last conv G, kept freed memory,
                 LeakyReLU in place)
- glibc-malloc:  glibc's malloc thresholds instead of `keep_freed_memory`
- foreach:       Adam/SGD with `foreach=True` instead of `fused=True`
- nchw:          the conv generator in the default (NCHW) layout instead of channels_last
- reuse:         `train.g_noise=reuse` (a semantics change, not a speed-up of the same step)
- compile:       `train.compile=default`: torch.compile (inductor) of G and D, as on a GPU
- out-of-place:  every LeakyReLU allocating its output, as before issue 16
- fold-last:     conv G only: its last convolution (C -> 1 channel) as one matmul to the 9 taps
                 (16 columns: MKL's GEMMs with 9 are several times slower) and a fold (col2im),
                 instead of oneDNN's convolution (issue 16's proposal; another summation order)
- tutorial:      the tutorial baseline of `ganlab bench`, for the ratio
"""

from __future__ import annotations

import argparse
import statistics
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.bench.runner import BenchData, bench_data, interleave, load_baseline, tutorial_case
from ganlab.config import OptimizerConfig, load_preset
from ganlab.models.conv import ConvGenerator
from ganlab.train.allocator import keep_freed_memory
from ganlab.train.bundle import build_bundle
from ganlab.train.step import train_step


def foreach_optimizer(params: list[torch.nn.Parameter], config: OptimizerConfig) -> torch.optim.Optimizer:
    """`build_optimizer` before fused kernels: `foreach` updates."""
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=config.betas, foreach=True)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, foreach=True)


class FoldConv2d(nn.Conv2d):
    """A 3x3 'same' convolution to one channel on a channels_last input: one matmul, then a fold."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(b * h * w, c)  # channels_last: a view
        taps = F.pad(self.weight[0].flip(1, 2).reshape(c, 9), (0, 7))  # fold sums the flipped kernel's taps
        m = (rows @ taps)[:, :9].view(b, h * w, 9).transpose(1, 2)  # (B, 9, H*W)
        return F.fold(m, (h, w), 3, padding=1) + self.bias.view(1, 1, 1, 1)


class NCHWConvGenerator(ConvGenerator):
    """ConvGenerator.forward in the default NCHW layout."""

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.convs(self.dense(z).view(z.shape[0], *self.data_shape))


def variant(
    preset: str,
    data: BenchData,
    foreach: bool = False,
    nchw: bool = False,
    reuse: bool = False,
    malloc: bool = True,
    compile: bool = False,
    out_of_place: bool = False,
    fold_last: bool = False,
) -> Callable[[int], None]:
    overrides = (["train.g_noise=reuse"] if reuse else []) + (["train.compile=default"] if compile else [])
    config = load_preset(preset, overrides)
    torch.manual_seed(0)
    bundle = build_bundle(config, torch.device("cpu"))
    if foreach:
        bundle.optimizers = {
            name: foreach_optimizer(list(module.parameters()), getattr(config.optim, name))
            for name, module in bundle.modules.items()
        }
    for layer in (m for module in bundle.modules.values() for m in module.modules()):
        if out_of_place and isinstance(layer, nn.LeakyReLU):
            layer.inplace = False
    if fold_last and isinstance(bundle.g, ConvGenerator):
        bundle.g.convs[-2].__class__ = FoldConv2d  # the last conv, before the output activation
    if nchw and isinstance(bundle.g, ConvGenerator):
        bundle.g.__class__ = NCHWConvGenerator
        bundle.g.to(memory_format=torch.contiguous_format)
    batch, n = config.train.batch_size, len(data.images)
    state = {"perm": torch.randperm(n), "i": 0}

    def run(steps: int) -> None:
        keep_freed_memory(malloc)
        stats = []
        for _ in range(steps):
            if (state["i"] + 1) * batch > n:
                state["perm"], state["i"] = torch.randperm(n), 0
            index = state["perm"][state["i"] * batch : (state["i"] + 1) * batch]
            stats.append(train_step(bundle, [(bundle.spec.prepare(data.images[index], config), data.labels[index])]))
            state["i"] += 1
        torch.stack(stats).tolist()
        keep_freed_memory(True)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", nargs="?", default="fc")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data-dir", default=None, help="data root holding mnist/ (default: the cache)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()
    data = bench_data(args.data_dir)
    conv = load_preset(args.preset).model.g.kind == "conv"
    cases = {
        "current": variant(args.preset, data),
        "glibc-malloc": variant(args.preset, data, malloc=False),
        "foreach": variant(args.preset, data, foreach=True),
        **({"nchw": variant(args.preset, data, nchw=True)} if conv else {}),
        "out-of-place": variant(args.preset, data, out_of_place=True),
        **({"fold-last": variant(args.preset, data, fold_last=True)} if conv else {}),
        "reuse": variant(args.preset, data, reuse=True),
        "compile": variant(args.preset, data, compile=True),
        "tutorial": tutorial_case(load_baseline(), load_preset(args.preset), data, torch.device("cpu")),
    }
    seconds = interleave(cases, args.steps, args.repeats)
    steps_per_epoch = -(-len(data.images) // load_preset(args.preset).train.batch_size)
    base = statistics.median(seconds["current"])
    tutorial = statistics.median(seconds["tutorial"])
    print(f"{args.preset}, {torch.get_num_threads()} threads, data: {data.source}")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(
            f"{name:18s} {median * steps_per_epoch:6.1f} s/epoch "
            f"(min {min(values) * steps_per_epoch:6.1f}, max {max(values) * steps_per_epoch:6.1f})  "
            f"{base / median:.2f}x current (paired by round {statistics.median(paired(seconds, name)):.2f}x), "
            f"{tutorial / median:.2f}x tutorial"
        )


def paired(seconds: dict[str, list[float]], name: str) -> list[float]:
    """Round by round, the current step's time over `name`'s (above 1: `name` is faster): the
    rounds share the machine's load, so these ratios are steadier than the medians' ratio."""
    return [current / other for current, other in zip(seconds["current"], seconds[name])]


if __name__ == "__main__":
    main()
