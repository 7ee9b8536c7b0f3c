"""Datasets as tensors: MNIST from verified IDX files, pixel scaling, and the 2-D ring of Gaussians."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict

import numpy as np
import torch

from ganlab.data.idx import read_idx
from ganlab.data.sources import find_mnist

Scaling = Literal["symmetric", "unit", "raw"]
Split = Literal["train", "test"]

_SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# scaled = pixels / divisor + offset
_SCALINGS: dict[str, tuple[float, float]] = {
    "symmetric": (127.5, -1.0),  # [-1, 1], matching a tanh output
    "unit": (255.0, 0.0),  # [0, 1]
    "raw": (1.0, 0.0),  # [0, 255]
}

# The 2-D toy of Metz et al. 2017 (Unrolled GAN) and Srivastava et al. 2017 (VEEGAN).
RING_MODES = 8
RING_RADIUS = 2.0
RING_STD = 0.02


@dataclass(frozen=True)
class ImageDataset:
    """Images with their labels, on one device."""

    images: torch.Tensor  # uint8 (N, 1, 28, 28), pixels 0..255
    labels: torch.Tensor  # int64 (N,), classes 0..9

    def __post_init__(self) -> None:
        if self.images.shape[0] != self.labels.shape[0]:
            raise ValueError(f"{self.images.shape[0]} images but {self.labels.shape[0]} labels")

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: str | torch.device) -> ImageDataset:
        """The same data on `device`."""
        return ImageDataset(images=self.images.to(device), labels=self.labels.to(device))


def load_mnist(
    split: Split,
    data_dir: Path | None = None,
    device: str | torch.device = "cpu",
    download: bool = True,
    progress: bool = False,
) -> ImageDataset:
    """MNIST `split` ("train": 60000, "test": 10000 images) from files found by `find_mnist`.

    Returns uint8 images (N, 1, 28, 28) and int64 labels (N,) on `device`, each call its own copy.
    """
    if split not in _SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    files = find_mnist(data_dir, download=download, progress=progress)
    images_name, labels_name = _SPLIT_FILES[split]
    images, labels = _decode(files.path(images_name), files.path(labels_name))
    # Copies, so that a caller writing into its tensors cannot alter the cached arrays.
    return ImageDataset(
        images=torch.from_numpy(images).unsqueeze(1).to(device, copy=True),
        labels=torch.from_numpy(labels).to(device, dtype=torch.int64),
    )


@functools.lru_cache(maxsize=4)
def _decode(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    # Keyed by path alone: find_mnist verified the contents by checksum just before.
    return read_idx(images_path), read_idx(labels_path)


def scale(x: torch.Tensor, scaling: Scaling) -> torch.Tensor:
    """uint8 pixels 0..255 (any shape) -> float32 on the same device.

    "symmetric": [-1, 1] (x / 127.5 - 1); "unit": [0, 1]; "raw": [0, 255].
    """
    if x.dtype != torch.uint8:
        raise TypeError(f"scale expects uint8 pixels 0..255, got {x.dtype} (already scaled?)")
    divisor, offset = _scaling(scaling)
    return x.float() / divisor + offset


def unscale(x: torch.Tensor, scaling: Scaling) -> torch.Tensor:
    """Inverse of `scale` to float32 [0, 1] for display, clamped (generators overshoot)."""
    divisor, offset = _scaling(scaling)
    return ((x.float() - offset) * (divisor / 255.0)).clamp(0.0, 1.0)


def _scaling(scaling: str) -> tuple[float, float]:
    if scaling not in _SCALINGS:
        raise ValueError(f"scaling must be one of {', '.join(map(repr, _SCALINGS))}; got {scaling!r}")
    return _SCALINGS[scaling]


def ring_centers(device: str | torch.device = "cpu") -> torch.Tensor:
    """float32 (RING_MODES, 2): the mode centres, evenly spaced on a circle of RING_RADIUS."""
    angles = torch.arange(RING_MODES, dtype=torch.float64) * (2 * math.pi / RING_MODES)
    centers = RING_RADIUS * torch.stack([angles.cos(), angles.sin()], dim=1)
    return centers.to(device=device, dtype=torch.float32)


def sample_ring(n: int, generator: torch.Generator | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
    """float32 (n, 2): a uniformly chosen centre plus isotropic N(0, RING_STD^2) noise."""
    return sample_ring_labelled(n, generator, device)[0]


def sample_ring_labelled(
    n: int, generator: torch.Generator | None = None, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """`sample_ring`'s points (n, 2) and the index of each one's mode, int64 (n,)."""
    # Draw where the generator lives so a seeded generator gives the same points on any device.
    source = generator.device if generator is not None else torch.device("cpu")
    modes = torch.randint(RING_MODES, (n,), generator=generator, device=source)
    noise = torch.randn(n, 2, generator=generator, device=source)
    return (ring_centers(source)[modes] + RING_STD * noise).to(device), modes.to(device)


class RingModeStats(TypedDict):
    modes_covered: int  # modes with at least min_count high-quality samples
    high_quality: float  # fraction of samples within 3 RING_STD of their nearest centre
    counts: list[int]  # high-quality samples per mode, length RING_MODES


def ring_mode_stats(points: torch.Tensor, min_count: int = 1) -> RingModeStats:
    """Mode coverage of points (n, 2) by the VEEGAN convention.

    A sample is high quality when within 3 RING_STD of its nearest centre, and counts for
    that mode; a mode is covered when it has at least `min_count` high-quality samples.
    """
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] == 0:
        raise ValueError(f"ring_mode_stats expects points of shape (n, 2) with n >= 1, got {tuple(points.shape)}")
    distances = torch.cdist(points.float(), ring_centers(points.device))  # (n, RING_MODES)
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance < 3 * RING_STD
    counts = torch.bincount(nearest[good], minlength=RING_MODES)
    return RingModeStats(
        modes_covered=int((counts >= min_count).sum()),
        high_quality=good.float().mean().item(),
        counts=counts.tolist(),
    )
