"""Memorisation: how close samples lie to the training set, against real held-out images."""

from __future__ import annotations

import numpy as np

from ganlab.errors import GanlabError
from ganlab.metrics._checks import as_features, same_dim
from ganlab.metrics.prdc import CHUNK


def nearest_neighbour_distances(queries: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance from each row of queries (N, D) to its nearest row of reference (M, D).

    Returns float64 (N,). Computed in float32 blocks (queries x reference) for speed: the
    distances feed a median, where float32 round-off (~1e-6 relative) does not matter.
    """
    queries = as_features("queries", queries, min_rows=1).astype(np.float32)
    reference = as_features("reference", reference, min_rows=1).astype(np.float32)
    same_dim("queries", queries, "reference", reference)
    ref_sq = (reference * reference).sum(1)
    out = np.empty(len(queries))
    for start in range(0, len(queries), CHUNK):
        q = queries[start : start + CHUNK]
        squared = (q * q).sum(1)[:, None] + ref_sq[None, :] - 2.0 * (q @ reference.T)
        out[start : start + CHUNK] = np.sqrt(np.clip(squared.min(1), 0.0, None))
    return out


def memorisation_ratio(sample_distances: np.ndarray, real_distances: np.ndarray) -> float:
    r"""median_i d_NN(sample_i, train) / median_j d_NN(test_j, train), in evaluator feature space.

    1 means samples lie as close to the training set as unseen real images do; below 1 they lie
    closer (copies or near-copies of training images pull it down); above 1 they lie farther
    (typical of poor samples). In the spirit of the nearest-neighbour memorisation checks of
    Borji, "Pros and Cons of GAN Evaluation Measures" (2019), and of Meehan et al., "A
    Non-Parametric Test to Detect Data-Copying in Generative Models" (AISTATS 2020), who also
    compare sample-to-train against test-to-train distances.

    Args:
        sample_distances: float (N,) nearest-training-image distances of the samples, N >= 1.
        real_distances: float (M,) the same for held-out real images, M >= 1, median > 0.
    """
    sample_distances = np.asarray(sample_distances, dtype=np.float64)
    real_distances = np.asarray(real_distances, dtype=np.float64)
    if sample_distances.ndim != 1 or len(sample_distances) == 0:
        raise GanlabError(f"sample_distances: expected shape (N,) with N >= 1, got {sample_distances.shape}")
    if real_distances.ndim != 1 or len(real_distances) == 0:
        raise GanlabError(f"real_distances: expected shape (M,) with M >= 1, got {real_distances.shape}")
    denominator = float(np.median(real_distances))
    if denominator <= 0:
        raise GanlabError(f"real_distances: expected a positive median, got {denominator}")
    return float(np.median(sample_distances)) / denominator
