"""Evaluator features of image sets, and an on-disk cache for those of the real reference sets.

Reference arrays (MNIST test features, training features, k-NN radii, nearest-neighbour
distances) cost seconds to minutes on a CPU but never change for a given evaluator, so they are
computed once and stored as .npz files (no pickle) under `<ganlab cache>/features/`, keyed by the
evaluator's SHA-256, the dataset, the split and the index range. Each file holds the SHA-256 of its
arrays, checked on every load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ganlab.errors import GanlabError
from ganlab.files import atomic_write
from ganlab.metrics.evaluator import MnistEvaluator

Progress = Callable[[int, int], None]  # (done, total)

@dataclass(frozen=True)
class Features:
    """Evaluator outputs for N images: features float32 (N, 128), probs float32 (N, 10)."""

    features: np.ndarray
    probs: np.ndarray

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: slice | np.ndarray) -> Features:
        return Features(self.features[index], self.probs[index])


def check_images(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Validate a batch of MNIST-shaped images; uint8 0..255 or float [0, 1] -> float32 [0, 1].

    Raises GanlabError naming `name` when the shape is not (N, 1, 28, 28) with N >= 1, or float
    values fall outside [0, 1] (a tanh generator's [-1, 1] output must be mapped first).
    """
    if not isinstance(images, torch.Tensor):
        raise GanlabError(f"{name}: expected a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28) or images.shape[0] < 1:
        raise GanlabError(f"{name}: expected shape (N, 1, 28, 28) with N >= 1, got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.float() / 255
    if not images.is_floating_point():
        raise GanlabError(f"{name}: expected uint8 or float images, got {images.dtype}")
    low, high = float(images.min()), float(images.max())
    if low < -1e-3 or high > 1 + 1e-3 or not np.isfinite([low, high]).all():
        raise GanlabError(f"{name}: expected float values in [0, 1], got range [{low:.3g}, {high:.3g}]")
    return images.float().clamp(0, 1)


@torch.inference_mode()
def extract(
    images: torch.Tensor, evaluator: MnistEvaluator, batch_size: int = 250, progress: Progress | None = None
) -> Features:
    """Features and softmax of images (N, 1, 28, 28), uint8 or float in [0, 1], in batches.

    Batches run on the evaluator's device; results come back as numpy float32. `progress(done,
    total)` is called after each batch, with image counts.
    """
    images = check_images(images)
    device = next(evaluator.parameters()).device
    features, probs = [], []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(device)
        f, logits = evaluator.features_and_logits(x)
        features.append(f.float().cpu().numpy())
        probs.append(torch.softmax(logits.double(), 1).float().cpu().numpy())
        if progress is not None:
            progress(start + len(x), len(images))
    return Features(np.concatenate(features), np.concatenate(probs))


def features_cache_dir() -> Path:
    """`<ganlab cache dir>/features` ($GANLAB_CACHE_DIR, $XDG_CACHE_HOME/ganlab or ~/.cache/ganlab)."""
    from ganlab.data.sources import cache_dir

    return cache_dir() / "features"


class CacheError(GanlabError):
    """A file of the feature cache is damaged: it names the file and how to rebuild it."""


DIGEST_KEY = "__sha256__"  # the array of a cache file that holds the SHA-256 of the others
# Files of this format hold DIGEST_KEY; those of the first (named `<key>.npz`, no digest) are
# never read: a damaged central directory can hide members, the digest among them.
SUFFIX = ".v2.npz"


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of named arrays: each one's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class ArrayCache:
    """Named dicts of numpy arrays, kept in memory and as .npz files in `directory`.

    `get(key, compute)` returns the stored arrays for `key`, or calls `compute()`, stores and
    returns its result. Files are written atomically (temp file + rename), so concurrent
    processes at worst compute the same thing twice. Each file holds the SHA-256 of its arrays,
    checked on every load: a damaged file is a CacheError naming it, never a silent rebuild
    (that would hide a disk or copy fault).
    """

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._memory: dict[str, dict[str, np.ndarray]] = {}

    @property
    def directory(self) -> Path:
        return self._directory if self._directory is not None else features_cache_dir()

    def get(self, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The arrays stored under `key`, or `compute()`'s, stored. Raises CacheError for a
        damaged file and GanlabError when the cache folder cannot be written."""
        if key in self._memory:
            return self._memory[key]
        path = self.directory / f"{key}{SUFFIX}"
        if path.is_file():
            arrays = self._read(path)
        else:
            arrays = compute()
            self._write(path, arrays)
        self._memory[key] = arrays
        return arrays

    @staticmethod
    def _read(path: Path) -> dict[str, np.ndarray]:
        """The arrays of a cache file, checked against the SHA-256 it records."""
        fix = "delete it, and the next use rebuilds it"
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
        except PermissionError as error:
            raise CacheError(f"cannot read the feature cache file {path} ({error.strerror}); set GANLAB_CACHE_DIR") from None
        except Exception as error:  # noqa: BLE001 - see below
            # A damaged file fails in zipfile (BadZipFile, a CRC-32 mismatch, KeyError,
            # NotImplementedError for a flipped flag, ...) or in numpy's header parser (ValueError,
            # tokenize errors): no documented set of types, and none of them leaves a usable file.
            raise CacheError(f"the feature cache file {path} is damaged ({error}): {fix}") from None
        recorded = arrays.pop(DIGEST_KEY, None)
        if recorded is None:
            raise CacheError(f"the feature cache file {path} is damaged (no SHA-256 of its arrays): {fix}")
        if recorded.ndim != 0 or str(recorded) != arrays_digest(arrays):
            raise CacheError(f"the feature cache file {path} is damaged (its arrays do not match the SHA-256 it records): {fix}")
        return arrays

    @staticmethod
    def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
        stored = {**arrays, DIGEST_KEY: np.array(arrays_digest(arrays))}
        try:
            atomic_write(path, lambda stream: np.savez(stream, **stored))
        except OSError as error:
            raise GanlabError(f"cannot write the feature cache {path} ({error}); set GANLAB_CACHE_DIR") from error


def reference_features(
    evaluator: MnistEvaluator,
    evaluator_sha: str,
    split: str,
    start: int,
    stop: int,
    cache: ArrayCache,
    data_dir: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[Features, np.ndarray]:
    """Evaluator features and labels of MNIST `split` images [start, stop), cached;
    `progress(what, done, total)` follows the extraction when they are not cached yet.

    Returns (Features, labels int64 (stop - start,)). Raises GanlabError when the split has
    fewer than `stop` images, or when MNIST cannot be found.
    """
    key = f"{evaluator_sha[:16]}-mnist-{split}-{start}-{stop}"

    def compute() -> dict[str, np.ndarray]:
        from ganlab.data.mnist import load_mnist

        data = load_mnist(split, data_dir)
        if len(data) < stop:
            raise GanlabError(f"MNIST {split} has {len(data)} images, asked for images {start}..{stop}")
        what = f"features of MNIST {split} images {start}..{stop}"
        feats = extract(data.images[start:stop], evaluator, progress=None if progress is None else partial(progress, what))
        return {"features": feats.features, "probs": feats.probs, "labels": data.labels[start:stop].numpy()}

    arrays = cache.get(key, compute)
    return Features(arrays["features"], arrays["probs"]), arrays["labels"]
