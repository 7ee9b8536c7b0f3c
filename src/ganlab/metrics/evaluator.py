"""The MNIST evaluator: a small CNN whose penultimate layer is ganlab's feature space.

FID, KID and precision/recall/density/coverage are computed on its 128-d features; the
classifier score and the class histograms use its softmax. Numbers computed with it are
comparable only with other numbers from the same evaluator (same SHA-256), which is why
the weights are committed, checked on load, and named in every cache key.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from ganlab.errors import GanlabError

WEIGHTS_PATH = Path(__file__).parent / "weights" / "mnist_evaluator.safetensors"
MODEL_CARD_PATH = Path(__file__).parent / "weights" / "MODEL_CARD.md"
# SHA-256 of the committed weights file; `load_evaluator` refuses any other bytes.
EVALUATOR_SHA256 = "91e3d32448b6da46b3fdbba385b7588e8791aab0b503b28a9a5e0199f47ad6c2"

FEATURE_DIM = 128
NUM_CLASSES = 10
# Training-set pixel statistics on [0, 1] (see shared datasets README); applied inside the net
# so that every caller hands over images in [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class MnistEvaluator(nn.Module):
    """Conv net for 1x28x28 digits: 3 conv stages, a 128-d embedding, a 10-way linear head.

    Input: float (N, 1, 28, 28) in [0, 1]. `features` returns float (N, 128): the embedding
    after its batch norm and before the ReLU (linear, so its covariance is full rank, which
    the Fréchet distance needs). `forward` returns logits (N, 10).
    """

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_block(1, 32),
            nn.MaxPool2d(2),  # (N, 32, 14, 14)
            *_conv_block(32, 64),
            *_conv_block(64, 64),
            nn.MaxPool2d(2),  # (N, 64, 7, 7)
            *_conv_block(64, 128),
            nn.MaxPool2d(2),  # (N, 128, 3, 3)
            nn.Flatten(),
        )
        self.embed = nn.Sequential(nn.Linear(128 * 3 * 3, FEATURE_DIM, bias=False), nn.BatchNorm1d(FEATURE_DIM))
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.3), nn.Linear(FEATURE_DIM, NUM_CLASSES))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) in [0, 1] -> (N, 128) penultimate-layer features."""
        return self.embed(self.body((x - MNIST_MEAN) / MNIST_STD))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) in [0, 1] -> (N, 10) class logits."""
        return self.head(self.features(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both outputs from one forward pass: (N, 128) features and (N, 10) logits."""
        f = self.features(x)
        return f, self.head(f)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_evaluator(
    path: str | Path | None = None,
    sha256: str | None = EVALUATOR_SHA256,
    device: str | torch.device = "cpu",
) -> MnistEvaluator:
    """Load evaluator weights (safetensors) in eval mode, after checking the file's SHA-256.

    Args:
        path: weights file; None means the committed `WEIGHTS_PATH`.
        sha256: expected hex digest; None skips the check (for an evaluator you trained yourself,
            whose numbers are then comparable only with each other).
        device: where the model lives.

    Raises:
        GanlabError: the file is missing, its SHA-256 differs from `sha256`, or its tensors do
            not fit `MnistEvaluator`.
    """
    from safetensors.torch import load_file

    path = Path(path) if path is not None else WEIGHTS_PATH
    if not path.is_file():
        raise GanlabError(f"evaluator weights not found: {path} (train them with `ganlab evaluator train`)")
    if sha256 is not None:
        got = sha256_file(path)
        if got != sha256:
            raise GanlabError(
                f"evaluator weights {path} have SHA-256 {got}, expected {sha256}: the file was changed or "
                "replaced; restore the committed file, or pass the new SHA-256 knowingly"
            )
    model = MnistEvaluator()
    try:
        model.load_state_dict(load_file(str(path)))
    except RuntimeError as error:
        raise GanlabError(f"evaluator weights {path} do not fit the MnistEvaluator network: {error}") from error
    return model.to(device).eval().requires_grad_(False)


@lru_cache(maxsize=4)
def default_evaluator(device: str = "cpu") -> MnistEvaluator:
    """The committed evaluator, loaded and checked once per process and device."""
    return load_evaluator(device=device)
