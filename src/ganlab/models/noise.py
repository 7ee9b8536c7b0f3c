"""Latent noise, sampled on the device."""

from __future__ import annotations

import torch

from ganlab.config import NoiseConfig


def sample_noise(
    n: int, config: NoiseConfig, device: torch.device | str = "cpu", generator: torch.Generator | None = None
) -> torch.Tensor:
    """z of shape (n, dim), float32: standard normal, or uniform on [-1, 1)."""
    if config.distribution == "gaussian":
        return torch.randn(n, config.dim, device=device, generator=generator)
    return torch.rand(n, config.dim, device=device, generator=generator).mul_(2).sub_(1)
