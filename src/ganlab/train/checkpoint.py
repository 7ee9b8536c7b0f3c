"""Checkpoints as one safetensors file: weights, optimizer state, RNG state and counters.

Tensors go in the safetensors body; everything else (optimizer hyperparameters, counters, the
config) goes in its string metadata as JSON. Nothing is ever unpickled. Writes are atomic: a
temporary file in the same folder, fsync'd, then renamed over the target. Every file carries the
SHA-256 of its tensors (names, dtypes, shapes and bytes) in its metadata, checked on every load,
so a flipped bit in the data is an error that names the file, not a silently different model.
Files written before this check have no digest and load as they are.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from torch import nn

from ganlab.errors import GanlabError
from ganlab.files import atomic_write


class CheckpointError(GanlabError):
    """A checkpoint is missing, unreadable or does not match the model."""


DIGEST_KEY = "tensors_sha256"


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of tensors by name: each one's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _save_tensors_atomic(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    data = save(tensors, metadata={**metadata, DIGEST_KEY: tensors_digest(tensors)})
    atomic_write(path, lambda stream: stream.write(data))


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = opt.state_dict()
    tensors, scalars = {}, {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{key}"] = value
            elif value is not None:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], meta: dict) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_weights(path: Path, modules: dict[str, nn.Module], metadata: dict[str, str] | None = None) -> None:
    """Save modules' state dicts (parameters and buffers) as `<name>.<key>` tensors, atomically."""
    tensors = {f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()}
    _save_tensors_atomic(path, tensors, metadata or {})


def load_weights(path: Path, modules: dict[str, nn.Module]) -> dict[str, str]:
    """Load `save_weights` output into modules (strict); returns the file's metadata."""
    tensors, metadata = _read(path)
    _load_modules(path, tensors, modules)
    return metadata


def _load_modules(path: Path, tensors: dict[str, torch.Tensor], modules: dict[str, nn.Module]) -> None:
    for name, module in modules.items():
        prefix = name + "."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(state)
        except RuntimeError as err:
            # torch lists every mismatched tensor over many lines: the first says enough
            first = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()), str(err))
            raise CheckpointError(f"{path}: weights of {name!r} do not match the model ({first})") from None


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from None
    expected = metadata.get(DIGEST_KEY)
    if expected is not None and tensors_digest(tensors) != expected:
        raise CheckpointError(f"{path}: damaged: its tensors do not match the SHA-256 recorded when it was written")
    return tensors, metadata


def checkpoint_epoch(path: Path) -> int | None:
    """The epoch a checkpoint was saved after, read from its metadata; None if there is none."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {})["info"])["epoch"]
    except (SafetensorError, OSError, ValueError, KeyError, TypeError):
        return None


def save_checkpoint(
    path: Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    extra_tensors: dict[str, torch.Tensor],
    info: dict[str, Any],
) -> None:
    """One atomic file with everything needed to continue a run exactly where it stopped.

    `extra_tensors` holds things like the RNG state; `info` must be JSON-able (counters, the
    config).
    """
    tensors = {f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()}
    opt_meta = {}
    for name, opt in optimizers.items():
        opt_tensors, opt_meta[name] = _flatten_optimizer(f"optim.{name}", opt)
        tensors.update(opt_tensors)
    tensors.update({f"extra.{k}": v for k, v in extra_tensors.items()})
    metadata = {"info": json.dumps(info), "optimizers": json.dumps(opt_meta)}
    _save_tensors_atomic(path, tensors, metadata)


def load_checkpoint(
    path: Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Restore modules and optimizers in place; return (extra tensors, info)."""
    tensors, metadata = _read(path)
    _load_modules(path, tensors, modules)
    try:
        opt_meta = json.loads(metadata["optimizers"])
        info = json.loads(metadata["info"])
    except (KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: checkpoint metadata is missing or damaged ({err})") from None
    for name, opt in optimizers.items():
        opt.load_state_dict(_unflatten_optimizer(f"optim.{name}", tensors, opt_meta[name]))
    extra = {k[len("extra.") :]: v for k, v in tensors.items() if k.startswith("extra.")}
    return extra, info
