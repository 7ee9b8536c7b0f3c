"""Draw samples from a trained run's saved weights; for a conditional run, of chosen classes."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from ganlab.config import RunConfig
from ganlab.data.registry import dataset_spec
from ganlab.errors import GanlabError
from ganlab.models import build_generator
from ganlab.models.conditional import LabelledGenerator, balanced_labels, num_labels
from ganlab.models.noise import sample_noise
from ganlab.rundir import RunDir, milestone_epoch
from ganlab.train.bundle import sampler_name
from ganlab.train.checkpoint import load_weights

WEIGHTS = ("final", "best", "last")
GRID_COLUMNS = 8  # the width of the sample grids (`ganlab.pictures.image_grid`'s default)


def weights_path(run: RunDir, which: str) -> Path:
    """The file of a run's `which` weights: `final`, the `best` or `last` checkpoint, or `epoch-N`,
    those kept after epoch N (`train.keep_weights_at`); GanlabError when there is none."""
    epoch = milestone_epoch(which)
    paths = {"final": run.weights("final"), "best": run.best_checkpoint, "last": run.checkpoint}
    if epoch is None and which not in paths:
        raise GanlabError(f"which weights: expected one of {', '.join(WEIGHTS)} or epoch-N, got {which!r}")
    path = run.milestone_weights(epoch) if epoch is not None else paths[which]
    if not path.is_file():
        hint = " (the run has not finished: try --which last)" if which == "final" else ""
        if epoch is not None:
            hint = f" (train.keep_weights_at: {run.read_config().train.keep_weights_at or 'none'})"
        raise GanlabError(f"{run.path}: no {which} weights at {path}{hint}")
    return path


def load_generator(run_dir: Path, which: str = "final", device: torch.device | str = "cpu") -> tuple[nn.Module, RunConfig]:
    """The generator of a run, in eval mode, from `final` weights, the `best` or the `last`
    checkpoint, or the weights kept after epoch N (`epoch-N`)."""
    run = RunDir(Path(run_dir))
    config = run.read_config()
    path = weights_path(run, which)
    g = build_generator(config)
    load_weights(path, {sampler_name(config): g})
    return g.to(device).eval(), config


def num_classes(config: RunConfig) -> int:
    """The classes a run's G is conditioned on; 0 for an unconditional run."""
    return num_labels(config, dataset_spec(config.data))


def conditioned_on(g: nn.Module) -> int:
    """The classes generator g draws by label (`LabelledGenerator`); 0 for an unconditional G."""
    return g.num_classes if isinstance(g, LabelledGenerator) else 0


def check_class(config: RunConfig, label: int) -> int:
    """`label` itself, when the run's G can draw that class; GanlabError otherwise."""
    classes = num_classes(config)
    if not classes:
        raise GanlabError(
            f"class {label}: run {config.name!r} is unconditional (model.conditional: none): "
            "it cannot draw a chosen class"
        )
    if not 0 <= label < classes:
        raise GanlabError(f"class {label}: expected 0..{classes - 1} ({config.data.dataset} has {classes} classes)")
    return label


@torch.no_grad()
def generate(
    g: nn.Module,
    config: RunConfig,
    n: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
    batch: int = 1000,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """n samples, float32 (n, *data_shape): images in [0, 1]; the ring's points as they are.

    A conditional G draws the classes `labels` (int64 (n,), from `check_class`'s range), by
    default `generation_labels(config, n)`: every class equally often. An unconditional G takes
    no labels (a GanlabError says so).
    """
    spec = dataset_spec(config.data.dataset)
    if labels is not None and not num_classes(config):
        raise GanlabError(f"run {config.name!r} is unconditional (model.conditional: none): it takes no labels")
    labels = generation_labels(config, n) if labels is None else labels
    generator = torch.Generator().manual_seed(seed)
    chunks = []
    for start in range(0, n, batch):
        z = sample_noise(min(batch, n - start), config.noise, generator=generator).to(device)
        y = None if labels is None else labels[start : start + len(z)].to(device)
        chunks.append(spec.to_display(g(z, y), config))
    return torch.cat(chunks).cpu()


def generation_labels(config: RunConfig, n: int) -> torch.Tensor | None:
    """The classes that `generate` asks a conditional G for by default, int64 (n,): 0, 1, ...,
    K - 1, 0, 1, ... (the metrics then see every class equally often); None when unconditional."""
    classes = num_classes(config)
    return balanced_labels(n, classes) if classes else None


def class_rows(z: torch.Tensor, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs of a grid with one row per class: z (c, dim) repeated in each of the `classes`
    rows, so that a row shows one class and a column one z; returns z (classes * c, dim) and the
    labels, int64 (classes * c,)."""
    labels = torch.arange(classes, device=z.device).repeat_interleave(len(z))
    return z.repeat(classes, 1), labels


def grid_inputs(config: RunConfig, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """What a sample grid of the fixed noise z feeds G, and the grid's width: (z, None,
    GRID_COLUMNS) for an unconditional run or a scatter; for a conditional image run, one row per
    class of z's first GRID_COLUMNS samples (`class_rows`)."""
    classes = num_classes(config)
    if not classes or dataset_spec(config.data.dataset).display != "grid":
        return z, None, GRID_COLUMNS
    return *class_rows(z[:GRID_COLUMNS], classes), GRID_COLUMNS


@torch.no_grad()
def class_grid(
    g: nn.Module, config: RunConfig, n: int, seed: int = 0, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, int]:
    """A conditional run's picture of about n samples: ceil(n / K) columns of noise drawn from
    `seed`, one row per class (`class_rows`); returns the samples in display units, float32
    (K * columns, *data_shape), and the number of columns."""
    classes = num_classes(config)
    columns = math.ceil(n / classes)
    z = sample_noise(columns, config.noise, generator=torch.Generator().manual_seed(seed)).to(device)
    z, labels = class_rows(z, classes)
    return dataset_spec(config.data.dataset).to_display(g(z, labels), config).cpu(), columns


def describe_picture(config: RunConfig, n: int, label: int | None = None) -> str:
    """What `Run.picture(n, label=label)` draws, in words: "64 samples", "64 samples of class 3",
    or for a conditional image run's class grid "10 classes x 7 samples"."""
    classes = num_classes(config)
    if label is not None:
        return f"{n} samples of class {label}"
    if classes and dataset_spec(config.data.dataset).display == "grid":
        return f"{classes} classes x {math.ceil(n / classes)} samples"
    return f"{n} samples"
