"""The batch-norm statistics of G's weight average, measured on the average itself.

After every step the average (`ganlab.train.ema`) copies the raw G's running means and variances:
a stand-in, since they describe the raw G's activations, not the average's. Before the average is
evaluated, draws its sample grid and is saved at an epoch's end, `standing_statistics` replaces
them with its own: the mean over `STANDING_SAMPLES` samples of the batch statistics it sees in
training mode ("standing statistics", as BigGAN's code samples with; Brock et al. 2019).

Measured on `dcgan-small` with R1 and the EMA after 10 epochs, seed 0, 10,000 samples (this
project's 2-core CPU, 2026-12-02): FID 14.40 with the copied statistics, 13.89 with its own
(precision 0.501 -> 0.518, recall 0.740 -> 0.753, coverage 0.374 -> 0.383). A G without batch
norm (the `fc` presets) is left as it is.
"""

from __future__ import annotations

import torch
from torch import nn

from ganlab.config import RunConfig
from ganlab.models.noise import sample_noise
from ganlab.train.sampling import generation_labels

STANDING_SAMPLES = 10_000
STANDING_SEED = 2  # the grids' fixed noise is seed + 1; a seed of its own, the same every epoch


@torch.no_grad()
def standing_statistics(g: nn.Module, config: RunConfig, device: torch.device, samples: int = STANDING_SAMPLES) -> None:
    """Reset the running statistics of every batch norm in `g` and re-estimate them as the
    plain mean over batches of `config.train.batch_size` of `samples` fresh samples (noise and
    labels from a generator of their own), with the rest of `g` in eval mode; `g`'s mode and the
    global RNG are as they were. Nothing happens when `g` has no batch norm."""
    norms = [m for m in g.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    if not norms:
        return
    was_training, momenta = g.training, [m.momentum for m in norms]
    g.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: every batch counts the same
        norm.train()
    # G's dropout (tip 17) draws from the global RNG even in eval mode: leave training's untouched.
    # Only the forward passes count: no outputs kept, none copied to the host.
    generator, labels = torch.Generator().manual_seed(config.train.seed + STANDING_SEED), generation_labels(config, samples)
    with torch.random.fork_rng(devices=[device] if torch.device(device).type == "cuda" else []):
        for start in range(0, samples, config.train.batch_size):
            z = sample_noise(min(config.train.batch_size, samples - start), config.noise, generator=generator).to(device)
            g(z, None if labels is None else labels[start : start + len(z)].to(device))
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    g.train(was_training)
