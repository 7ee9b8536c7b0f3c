"""The 2-D ring of 8 Gaussians (Metz et al. 2017, Srivastava et al. 2017): a toy that trains in seconds.

Its points, their modes, and the VEEGAN mode-coverage statistics of generated points.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TypedDict

import torch

from ganlab.config import RunConfig
from ganlab.data.spec import DatasetSpec, Split

# The 2-D toy of Metz et al. 2017 (Unrolled GAN) and Srivastava et al. 2017 (VEEGAN).
RING_MODES = 8
RING_RADIUS = 2.0
RING_STD = 0.02


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


def _load(config: RunConfig, split: Split, data_dir: Path | None, device: torch.device, progress: bool):
    """`train.ring_size` points drawn from the run's seed (the test split from the next seed)."""
    seed = config.train.seed + (1 if split == "test" else 0)
    x, y = sample_ring_labelled(config.train.ring_size, generator=torch.Generator().manual_seed(seed))
    return x.to(device), y.to(device)


RING = DatasetSpec(
    name="ring", shape=(2,), num_classes=RING_MODES, load=_load, display="scatter", scorer="ring",
    best_by=("high_quality", True),
)  # fmt: skip
