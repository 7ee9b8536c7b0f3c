"""The 2-D ring of 8 Gaussians (Metz et al. 2017, Srivastava et al. 2017): a toy that trains in seconds."""

from __future__ import annotations

from pathlib import Path

import torch

from ganlab.config import RunConfig
from ganlab.data.datasets import RING_MODES, sample_ring_labelled
from ganlab.data.spec import DatasetSpec, Split


def _load(config: RunConfig, split: Split, data_dir: Path | None, device: torch.device, progress: bool):
    """`train.ring_size` points drawn from the run's seed (the test split from the next seed)."""
    seed = config.train.seed + (1 if split == "test" else 0)
    x, y = sample_ring_labelled(config.train.ring_size, generator=torch.Generator().manual_seed(seed))
    return x.to(device), y.to(device)


RING = DatasetSpec(
    name="ring", shape=(2,), num_classes=RING_MODES, load=_load, display="scatter", scorer="ring",
    best_by=("high_quality", True),
)  # fmt: skip
