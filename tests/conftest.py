"""Shared fixtures: the real MNIST files (skipped when absent) and a data environment sealed off
from the user's cache, data dir, the network and npm."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

MNIST_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The data ROOT holding mnist/ (pass it as data_dir): $GANLAB_TEST_DATA_DIR, else ../shared/datasets."""
    root = Path(os.environ.get("GANLAB_TEST_DATA_DIR") or Path(__file__).parents[2] / "shared" / "datasets")
    if not all((root / "mnist" / f"{name}.gz").is_file() or (root / "mnist" / name).is_file() for name in MNIST_NAMES):
        pytest.skip(f"real MNIST not found at {root / 'mnist'}; set GANLAB_TEST_DATA_DIR")
    return root


@pytest.fixture
def isolated_data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache under tmp_path, no data dir, no default mirrors and no npm on PATH.

    Returns the cache directory (GANLAB_CACHE_DIR). Tests that want a mirror or npm pass or
    install their own stand-ins, so no test can reach the internet.
    """
    from ganlab.data.registry import DATASETS

    cache = tmp_path / "cache"
    monkeypatch.setenv("GANLAB_CACHE_DIR", str(cache))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("GANLAB_DATA_DIR", raising=False)
    for spec in DATASETS.values():
        if spec.files is not None:
            monkeypatch.setattr(spec.files, "mirrors", ())
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    return cache


@pytest.fixture
def one_thread():
    """Tiny models run fastest, and bit-reproducibly, on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
