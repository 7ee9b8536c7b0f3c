"""What ganlab knows about a dataset, in one place: `DatasetSpec`, and the registry `DATASETS`.

Everything above the data layer asks the spec (shape, classes, display, scorer, best-by metric)
instead of branching on a dataset's name. Adding a dataset is one module that builds a spec and
one line in `ganlab.data.registry.DATASETS`. A dataset whose shape or classes depend on the
config (the image folder) also gives `configure`, and its users ask `dataset_spec(config.data)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ganlab.config import DataConfig, RunConfig
from ganlab.data.fileset import FileSet
from ganlab.data.scaling import scale, unscale

Split = Literal["train", "test"]
# (config, split, data_dir, device, progress) -> (x, y): x uint8 images or float points, y int64.
Loader = Callable[[RunConfig, Split, Path | None, torch.device, bool], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset as the rest of ganlab sees it.

    name: the `data.dataset` config value.
    shape: one sample's shape: (C, H, W) for images, (D,) for points.
    num_classes: label classes (0: unlabelled).
    load: the whole split on the device, `(x, y)`: x uint8 pixels 0..255 for images (scaled on
        the device by `prepare`), float points otherwise; y int64 class labels (N,).
    display: how samples are drawn: an image grid, or a 2-D scatter over the data.
    scorer: which scorer of the metrics layer scores samples (`ganlab.metrics.scorers`).
    best_by: the metric that picks the best checkpoint, and whether higher is better.
    files: the files `load` reads, for `ganlab data fetch` and `ganlab data info`; None: the
        dataset is generated, or found where the config says.
    configure: the spec as a config's data section shapes it (shape, classes); None: the spec
        is the same for every config.
    """

    name: str
    shape: tuple[int, ...]
    num_classes: int
    load: Loader
    display: Literal["grid", "scatter"]
    scorer: str
    best_by: tuple[str, bool]
    files: FileSet | None = None
    configure: Callable[[DataConfig], DatasetSpec] | None = None

    @property
    def is_image(self) -> bool:
        """Whether a sample is an image (C, H, W) rather than a point."""
        return len(self.shape) == 3

    def prepare(self, x: torch.Tensor, config: RunConfig) -> torch.Tensor:
        """A batch as the networks take it: images scaled on the device as `data.scaling` says."""
        return scale(x, config.data.scaling) if self.is_image else x

    def to_display(self, x: torch.Tensor, config: RunConfig) -> torch.Tensor:
        """Generator output in display units: images in [0, 1]; points as they are."""
        return unscale(x, config.data.scaling) if self.is_image else x
