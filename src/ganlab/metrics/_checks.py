"""Argument checks shared by the metric functions: errors name the argument, expected, got."""

from __future__ import annotations

import numpy as np

from ganlab.errors import GanlabError


def as_features(name: str, x: object, min_rows: int = 2) -> np.ndarray:
    """`x` as a float64 (N, D) array with N >= min_rows, or a GanlabError naming `name`."""
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 2:
        raise GanlabError(f"{name}: expected a 2-D feature array (N, D), got shape {array.shape}")
    if array.shape[0] < min_rows:
        raise GanlabError(f"{name}: expected at least {min_rows} samples, got {array.shape[0]}")
    if not np.isfinite(array).all():
        raise GanlabError(f"{name}: expected finite features, got NaN or inf")
    return array


def same_dim(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """Raise GanlabError naming both sides unless `a` and `b` have the same feature dimension."""
    if a.shape[-1] != b.shape[-1]:
        raise GanlabError(
            f"feature dimension mismatch: {name_a} has {a.shape[-1]} features, {name_b} has {b.shape[-1]}"
        )
