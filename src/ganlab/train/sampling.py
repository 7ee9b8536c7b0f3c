"""Draw samples from a trained run's saved weights."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ganlab.config import RunConfig
from ganlab.data.registry import dataset_spec
from ganlab.errors import GanlabError
from ganlab.models import build_generator
from ganlab.models.noise import sample_noise
from ganlab.rundir import RunDir
from ganlab.train.bundle import sampler_name
from ganlab.train.checkpoint import load_weights

WEIGHTS = ("final", "best", "last")


def load_generator(run_dir: Path, which: str = "final", device: torch.device | str = "cpu") -> tuple[nn.Module, RunConfig]:
    """The generator of a run, in eval mode, from `final` weights, the `best` or the `last` checkpoint."""
    run = RunDir(Path(run_dir))
    config = run.read_config()
    paths = {"final": run.weights("final"), "best": run.best_checkpoint, "last": run.checkpoint}
    if which not in paths:
        raise GanlabError(f"which weights: expected one of {', '.join(WEIGHTS)}, got {which!r}")
    if not paths[which].is_file():
        hint = " (the run has not finished: try --which last)" if which == "final" else ""
        raise GanlabError(f"{run.path}: no {which} weights at {paths[which]}{hint}")
    g = build_generator(config)
    load_weights(paths[which], {sampler_name(config): g})
    return g.to(device).eval(), config


@torch.no_grad()
def generate(
    g: nn.Module, config: RunConfig, n: int, seed: int = 0, device: torch.device | str = "cpu", batch: int = 1000
) -> torch.Tensor:
    """n samples, float32 (n, *data_shape): images in [0, 1]; the ring's points as they are."""
    spec = dataset_spec(config.data.dataset)
    generator = torch.Generator().manual_seed(seed)
    chunks = []
    for start in range(0, n, batch):
        z = sample_noise(min(batch, n - start), config.noise, generator=generator).to(device)
        x = g(z)
        chunks.append(spec.to_display(x, config))
    return torch.cat(chunks).cpu()
