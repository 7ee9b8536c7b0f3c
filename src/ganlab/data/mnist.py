"""MNIST (LeCun et al. 1998): 28x28 grey digits, 60,000 for training and 10,000 for testing."""

from __future__ import annotations

from pathlib import Path

import torch

from ganlab.config import RunConfig
from ganlab.data.datasets import load_mnist
from ganlab.data.spec import DatasetSpec, Split


def _load(config: RunConfig, split: Split, data_dir: Path | None, device: torch.device, progress: bool):
    data = load_mnist(split, data_dir=data_dir, device=device, progress=progress)
    return data.images, data.labels


MNIST = DatasetSpec(
    name="mnist", shape=(1, 28, 28), num_classes=10, load=_load, display="grid", scorer="mnist", best_by=("fid", False)
)
