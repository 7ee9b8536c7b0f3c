"""Stacked MNIST: three random MNIST digits as the three channels of one image, 1,000 modes.

The mode-collapse benchmark of Metz et al. (Unrolled GAN, 2017), Srivastava et al. (VEEGAN,
2017) and Lin et al. (PacGAN, 2018). The mode of an image is 100 a + 10 b + c for the digits
a, b, c of its channels 0, 1, 2; `ganlab.metrics.suite.stacked_mode_scores` counts the modes of
generated images with the evaluator, channel by channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ganlab.config import RunConfig
from ganlab.data.mnist import MNIST_FILE_SET, load_mnist
from ganlab.data.spec import DatasetSpec, Split
from ganlab.errors import GanlabError

STACKED_MODES = 1000
# The training set is drawn once, from a fixed seed, so that every run (any train.seed) sees the
# same 60,000 triples, as every MNIST run sees the same digits.
DATA_SEED = 0


@dataclass(frozen=True)
class StackedDataset:
    """Stacked digits with their modes, on one device."""

    images: torch.Tensor  # uint8 (N, 3, 28, 28), pixels 0..255, one digit per channel
    labels: torch.Tensor  # int64 (N,), mode 100 a + 10 b + c in 0..999

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: str | torch.device) -> StackedDataset:
        """The same data on `device`."""
        return StackedDataset(images=self.images.to(device), labels=self.labels.to(device))


def stack_digits(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int = 0) -> StackedDataset:
    """n stacked images, each channel an independently, uniformly drawn digit of `images`.

    Args:
        images: uint8 (M, 1, 28, 28) single digits.  labels: int64 (M,) in 0..9.
        n: number of stacked images, >= 1.  seed: for the draws (same seed, same set).

    Raises:
        GanlabError: bad shapes or n < 1.
    """
    if images.ndim != 4 or images.shape[1] != 1 or len(images) < 1:
        raise GanlabError(f"images: expected shape (M, 1, H, W) with M >= 1, got {tuple(images.shape)}")
    if labels.shape != (len(images),):
        raise GanlabError(f"labels: expected shape ({len(images)},), got {tuple(labels.shape)}")
    if n < 1:
        raise GanlabError(f"n: expected >= 1 stacked images, got {n}")
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(len(images), (n, 3), generator=generator).to(images.device)
    stacked = images[index.flatten(), 0].reshape(n, 3, *images.shape[2:])
    digits = labels[index]
    return StackedDataset(images=stacked, labels=digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])


def load_stacked_mnist(
    split: Split = "train",
    n: int | None = None,
    seed: int = 0,
    data_dir: Path | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> StackedDataset:
    """Stacked MNIST drawn from MNIST `split`; n defaults to the split's size (60,000 / 10,000)."""
    mnist = load_mnist(split, data_dir, progress=progress)
    return stack_digits(mnist.images, mnist.labels, len(mnist) if n is None else n, seed).to(device)


def _load(config: RunConfig, split: Split, data_dir: Path | None, device: torch.device, progress: bool):
    """As many triples as the MNIST split has images, drawn from its digits with DATA_SEED."""
    data = load_stacked_mnist(split, seed=DATA_SEED, data_dir=data_dir, device=device, progress=progress)
    return data.images, data.labels


# Its files are MNIST's: `ganlab data fetch stacked-mnist` fetches them.
STACKED_MNIST = DatasetSpec(
    name="stacked-mnist", shape=(3, 28, 28), num_classes=STACKED_MODES, load=_load, display="grid",
    scorer="stacked", best_by=("mode_kl", False), files=MNIST_FILE_SET,
)  # fmt: skip
