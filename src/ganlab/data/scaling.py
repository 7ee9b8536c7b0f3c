"""Pixel scaling: uint8 pixels 0..255 to the float range the networks take, and back for display."""

from __future__ import annotations

from typing import Literal

import torch

Scaling = Literal["symmetric", "unit", "raw"]

# scaled = pixels / divisor + offset
_SCALINGS: dict[str, tuple[float, float]] = {
    "symmetric": (127.5, -1.0),  # [-1, 1], matching a tanh output
    "unit": (255.0, 0.0),  # [0, 1]
    "raw": (1.0, 0.0),  # [0, 255]
}


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
