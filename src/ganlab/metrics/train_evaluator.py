"""The evaluator's fixed training recipe: seeded, CPU-friendly, a few minutes on 2 cores.

`train_evaluator` is the whole recipe; `ganlab evaluator train` calls it and writes the weights
and a model card. Same seed, same data and same thread count give the same weights on the same
machine (deterministic algorithms are switched on); other CPUs or thread counts may differ in the
last bits, which is why the committed file is pinned by its SHA-256 rather than rebuilt.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ganlab.errors import GanlabError
from ganlab.metrics.evaluator import MnistEvaluator, sha256_file


@dataclass(frozen=True)
class Recipe:
    """Every knob of the evaluator's training; the defaults made the committed weights."""

    seed: int = 0
    # train[0:holdout] is never shown to the evaluator: the real-data floor scores those images,
    # which must be as new to it as a generator's samples (its features of images it was trained
    # on are tighter than those of unseen ones, which would inflate the floor's FID).
    holdout: int = 10000
    epochs: int = 6
    batch_size: int = 128
    max_lr: float = 3e-3  # OneCycle peak for AdamW
    weight_decay: float = 1e-4
    max_shift: float = 2.0  # random translation, pixels
    max_rotation: float = 10.0  # random rotation, degrees
    threads: int = 1  # one thread: reproducible across machines, and no spin-waiting on a busy CPU


@dataclass(frozen=True)
class TrainResult:
    test_accuracy: float  # on the 10,000 MNIST test images, in [0, 1]
    train_seconds: float
    sha256: str
    path: Path


def augment(x: torch.Tensor, recipe: Recipe, generator: torch.Generator) -> torch.Tensor:
    """Random rotation and shift of a batch (N, 1, 28, 28) in [0, 1], one draw per image."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(recipe.max_rotation)
    # affine_grid works in [-1, 1] coordinates: one pixel is 2/28.
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * recipe.max_shift * 2 / 28
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


@torch.inference_mode()
def accuracy(model: MnistEvaluator, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Share of correct argmax predictions; images uint8 (N, 1, 28, 28), labels int64 (N,)."""
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = model(images[start : start + batch_size].float() / 255)
        correct += int((logits.argmax(1) == labels[start : start + batch_size]).sum())
    return correct / len(images)


def train_evaluator(
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    out: str | Path,
    recipe: Recipe = Recipe(),
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train the evaluator from scratch and save it as safetensors at `out`.

    Args:
        train_images, test_images: uint8 (N, 1, 28, 28); train_labels, test_labels: int64 (N,).
            Training uses train_images[recipe.holdout:] only.
        out: weights file to write (its folder is created).
        recipe: the training knobs; the defaults are the committed recipe.
        log: receives one line per epoch.
    """
    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), torch.random.get_rng_state())
    try:
        return _train(train_images, train_labels, test_images, test_labels, Path(out), recipe, log)
    finally:  # leave the process as it was: tests and callers share it
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])
        torch.set_flush_denormal(False)
        torch.random.set_rng_state(saved[2])


def _train(
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    out: Path,
    recipe: Recipe,
    log: Callable[[str], None],
) -> TrainResult:
    from safetensors.torch import save_file

    torch.set_num_threads(recipe.threads)
    torch.set_flush_denormal(True)  # denormal weights or gradients can slow CPU maths tenfold
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)

    if not 0 <= recipe.holdout < len(train_images):
        raise GanlabError(f"holdout: expected 0..{len(train_images) - 1} held-out training images, got {recipe.holdout}")
    train_images, train_labels = train_images[recipe.holdout :], train_labels[recipe.holdout :]
    model = MnistEvaluator()
    steps_per_epoch = math.ceil(len(train_images) / recipe.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.max_lr, epochs=recipe.epochs, steps_per_epoch=steps_per_epoch
    )
    started = time.perf_counter()
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(train_images), generator=generator)
        total_loss = 0.0
        for start in range(0, len(order), recipe.batch_size):
            index = order[start : start + recipe.batch_size]
            x = augment(train_images[index].float() / 255, recipe, generator)
            loss = F.cross_entropy(model(x), train_labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += float(loss.detach()) * len(index)
        acc = accuracy(model, test_images, test_labels)
        log(
            f"epoch {epoch + 1}/{recipe.epochs}: train loss {total_loss / len(order):.4f}, "
            f"test accuracy {acc:.4%}, {time.perf_counter() - started:.0f} s"
        )
    seconds = time.perf_counter() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(out), metadata={"recipe": str(asdict(recipe))})
    return TrainResult(test_accuracy=acc, train_seconds=seconds, sha256=sha256_file(out), path=out)
