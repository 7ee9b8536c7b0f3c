"""Latent noise, sampled on the device."""

from __future__ import annotations

import math

import torch

from ganlab.config import NoiseConfig


def sample_noise(
    n: int, config: NoiseConfig, device: torch.device | str = "cpu", generator: torch.Generator | None = None
) -> torch.Tensor:
    """z of shape (n, dim), float32: standard normal, uniform on [-1, 1), or spherical: standard
    normal scaled onto the sphere of radius sqrt(dim) (the same draws as "gaussian")."""
    if config.distribution == "uniform":
        return torch.rand(n, config.dim, device=device, generator=generator).mul_(2).sub_(1)
    z = torch.randn(n, config.dim, device=device, generator=generator)
    if config.distribution == "spherical":
        z = z.mul_(math.sqrt(config.dim) / z.norm(dim=1, keepdim=True))
    return z
