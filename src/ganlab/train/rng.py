"""Capture and restore every RNG a run draws from, so a resumed run continues bit for bit."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """One seed drives torch (CPU and CUDA), NumPy and `random`."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, JSON-able values) holding the torch, CUDA, NumPy and Python RNG states."""
    tensors = {"rng_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors["rng_cuda"] = torch.cuda.get_rng_state()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    values = {
        "numpy": [kind, keys.tolist(), pos, has_gauss, gauss],
        "python": [version, list(internal), gauss_next],
    }
    return tensors, values


def set_rng_state(tensors: dict[str, torch.Tensor], values: dict[str, Any]) -> None:
    """Restore what `rng_state` captured."""
    torch.set_rng_state(tensors["rng_cpu"])
    if "rng_cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng_cuda"])
    kind, keys, pos, has_gauss, gauss = values["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = values["python"]
    random.setstate((version, tuple(internal), gauss_next))
