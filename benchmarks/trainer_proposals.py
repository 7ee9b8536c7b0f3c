"""Ablate the speed choices of ganlab's training step, and measure proposals before they go in.

    python benchmarks/trainer_proposals.py [fc|conv-g] [--steps N] [--repeats R] [--threads T]

Each variant is ganlab's real `build_gan` + `train_step`, with one choice undone (or a proposal
applied) at run time only, and all variants are timed interleaved in one process (A B C A B C ...):

- current:       the code as it is (fused optimizers, channels_last conv G, kept freed memory)
- glibc-malloc:  glibc's malloc thresholds instead of `keep_freed_memory`
- foreach:       Adam/SGD with `foreach=True` instead of `fused=True`
- nchw:          the conv generator in the default (NCHW) layout instead of channels_last
- reuse:         `train.g_noise=reuse` (a semantics change, not a speed-up of the same step)
- compile:       `train.compile=default`: torch.compile (inductor) of G and D, as on a GPU
- tutorial:      the tutorial baseline of `ganlab bench`, for the ratio
"""

from __future__ import annotations

import argparse
import statistics
from typing import Callable

import torch

from ganlab.bench.commands import bench_images
from ganlab.bench.runner import interleave, load_baseline, tutorial_case
from ganlab.config import OptimizerConfig, load_preset
from ganlab.models.conv import ConvGenerator
from ganlab.train.allocator import keep_freed_memory
from ganlab.train.trainer import build_gan, prepare_batch, train_step


def foreach_optimizer(params: list[torch.nn.Parameter], config: OptimizerConfig) -> torch.optim.Optimizer:
    """`build_optimizer` before fused kernels: `foreach` updates."""
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=config.betas, foreach=True)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, foreach=True)


class NCHWConvGenerator(ConvGenerator):
    """ConvGenerator.forward in the default NCHW layout."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.convs(self.dense(z).view(z.shape[0], *self.data_shape))


def variant(
    preset: str,
    images: torch.Tensor,
    foreach: bool = False,
    nchw: bool = False,
    reuse: bool = False,
    malloc: bool = True,
    compile: bool = False,
) -> Callable[[int], None]:
    config = load_preset(preset, (["train.g_noise=reuse"] if reuse else []) + (["train.compile=default"] if compile else []))
    torch.manual_seed(0)
    gan = build_gan(config, torch.device("cpu"))
    if foreach:
        gan.opt_g = foreach_optimizer(list(gan.g.parameters()), config.optim.g)
        gan.opt_d = foreach_optimizer(list(gan.d.parameters()), config.optim.d)
    if nchw and isinstance(gan.g, ConvGenerator):
        gan.g.__class__ = NCHWConvGenerator
        gan.g.to(memory_format=torch.contiguous_format)
    batch = config.train.batch_size
    state = {"perm": torch.randperm(len(images)), "i": 0}

    def run(n: int) -> None:
        keep_freed_memory(malloc)
        stats = []
        for _ in range(n):
            if (state["i"] + 1) * batch > len(images):
                state["perm"], state["i"] = torch.randperm(len(images)), 0
            i = state["i"]
            stats.append(
                train_step(gan, prepare_batch(images[state["perm"][i * batch : (i + 1) * batch]], config), config)
            )
            state["i"] = i + 1
        torch.stack(stats).tolist()
        keep_freed_memory(True)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", nargs="?", default="fc")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()
    images, source = bench_images(None)
    cases = {
        "current": variant(args.preset, images),
        "glibc-malloc": variant(args.preset, images, malloc=False),
        "foreach": variant(args.preset, images, foreach=True),
        **({"nchw": variant(args.preset, images, nchw=True)} if load_preset(args.preset).model.g.kind == "conv" else {}),
        "reuse": variant(args.preset, images, reuse=True),
        "compile": variant(args.preset, images, compile=True),
        "tutorial": tutorial_case(load_baseline(), load_preset(args.preset), images, torch.device("cpu")),
    }
    seconds = interleave(cases, args.steps, args.repeats)
    steps_per_epoch = -(-len(images) // load_preset(args.preset).train.batch_size)
    base = statistics.median(seconds["current"])
    tutorial = statistics.median(seconds["tutorial"])
    print(f"{args.preset}, {torch.get_num_threads()} threads, data: {source}")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(
            f"{name:18s} {median * steps_per_epoch:6.1f} s/epoch "
            f"(min {min(values) * steps_per_epoch:6.1f}, max {max(values) * steps_per_epoch:6.1f})  "
            f"{base / median:.2f}x current, {tutorial / median:.2f}x tutorial"
        )


if __name__ == "__main__":
    main()
