"""Tensors built from the user's files, cached as one safetensors file each, checked on every load.

A cache file holds its tensors, the key of what they were built from (`source`: for an image
folder, the digest of its listing and the target shape), and the SHA-256 of the tensors. A file
whose key differs was built from other inputs and is rebuilt; a file that cannot be read or whose
tensors do not match their SHA-256 is a DataError naming it, never a silent rebuild (that would
hide a disk or copy fault), as the feature cache does (`ganlab.metrics.features.ArrayCache`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors import safe_open
from safetensors.torch import save

from ganlab.data.sources import DataError
from ganlab.files import atomic_write_bytes

_SOURCE, _DIGEST, _NOTES = "source", "sha256", "notes"


class Cached(NamedTuple):
    tensors: dict[str, torch.Tensor]  # on the CPU
    notes: dict  # JSON-able facts about the build (what was skipped, the class names)
    built: bool  # False: read from the cache file


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of named tensors: each one's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def cached_tensors(
    path: Path, source: str, build: Callable[[], tuple[dict[str, torch.Tensor], dict]]
) -> Cached:
    """The tensors stored in `path` when they were built from `source` (a key string); else
    `build()`'s (tensors, notes), stored there (atomically) and returned.

    Raises DataError when the file is damaged (naming it, and saying to delete it) or cannot be
    written (naming GANLAB_CACHE_DIR).
    """
    stored = _read(path, source) if path.is_file() else None
    if stored is not None:
        return Cached(*stored, built=False)
    tensors, notes = build()
    tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    metadata = {_SOURCE: source, _DIGEST: tensors_digest(tensors), _NOTES: json.dumps(notes)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, save(tensors, metadata))
    except OSError as error:
        raise DataError(f"cannot write the cache file {path} ({error}); set GANLAB_CACHE_DIR") from error
    return Cached(tensors, notes, built=True)


def _read(path: Path, source: str) -> tuple[dict[str, torch.Tensor], dict] | None:
    """(tensors, notes) of a cache file built from `source`, its tensors checked; None when it
    was built from another source (its tensors are then not read at all)."""
    fix = "delete it, and the next use rebuilds it"
    try:
        with safe_open(str(path), framework="pt") as stored:
            metadata = stored.metadata() or {}
            if _SOURCE not in metadata or _DIGEST not in metadata:
                raise ValueError("no source key or SHA-256 in its header")
            if metadata[_SOURCE] != source:
                return None
            tensors = {name: stored.get_tensor(name) for name in stored.keys()}
            notes = json.loads(metadata.get(_NOTES, "{}"))
    except PermissionError as error:
        raise DataError(f"cannot read the cache file {path} ({error.strerror}); set GANLAB_CACHE_DIR") from None
    except Exception as error:  # noqa: BLE001 - safetensors' and json's errors share no type
        raise DataError(f"the cache file {path} is damaged ({error}): {fix}") from None
    if tensors_digest(tensors) != metadata[_DIGEST]:
        raise DataError(f"the cache file {path} is damaged (its tensors do not match the SHA-256 it records): {fix}")
    return tensors, notes
