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


def find_mnist_root(environ: dict[str, str]) -> tuple[Path | None, list[Path]]:
    """(the first data root holding MNIST, the roots tried): $GANLAB_TEST_DATA_DIR, then
    $GANLAB_DATA_DIR (the user's own, as ganlab reads it), then ../shared/datasets."""
    tried = [Path(environ[name]) for name in ("GANLAB_TEST_DATA_DIR", "GANLAB_DATA_DIR") if environ.get(name)]
    tried.append(Path(__file__).parents[2] / "shared" / "datasets")
    for root in tried:
        if all((root / "mnist" / f"{name}.gz").is_file() or (root / "mnist" / name).is_file() for name in MNIST_NAMES):
            return root, tried
    return None, tried


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The data ROOT holding mnist/ (pass it as data_dir), found by `find_mnist_root`."""
    root, tried = find_mnist_root(dict(os.environ))
    if root is None:
        where = ", ".join(str(path / "mnist") for path in tried)
        pytest.skip(f"real MNIST not found at {where}; set GANLAB_DATA_DIR or GANLAB_TEST_DATA_DIR")
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
