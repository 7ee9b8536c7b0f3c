"""How the golden digests drive ganlab's core: the only part of them that follows the code's API.

The redesign may rewrite these two functions against the new API; the digests must not change.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ganlab.config import load_preset
from ganlab.data.registry import dataset_spec
from ganlab.train.bundle import build_bundle
from ganlab.train.checkpoint import load_weights
from ganlab.train.rng import seed_everything
from ganlab.train.step import train_step


def run_steps(preset: str, steps: int, images: torch.Tensor) -> tuple[nn.Module, nn.Module]:
    """`steps` training steps of `preset` as `train()` takes them: seed, build, one permutation of
    the data (`images` for image presets; the ring draws its own), batches in its order."""
    config = load_preset(preset)
    device = torch.device("cpu")
    spec = dataset_spec(config.data.dataset)
    if spec.is_image:
        x_train, y_train = images, torch.zeros(len(images), dtype=torch.int64)
    else:
        x_train, y_train = spec.load(config, "train", None, device, False)
    seed_everything(config.train.seed)
    bundle = build_bundle(config, device)
    perm = torch.randperm(len(x_train))
    batch = config.train.batch_size
    for i in range(steps):
        index = perm[i * batch : (i + 1) * batch]
        train_step(bundle, [(spec.prepare(x_train[index], config), y_train[index])])
    return bundle.g, bundle.d


def train_ring(out: Path) -> tuple[bytes, str]:
    """The ring preset, 2 epochs of 20 steps, through `train()`: (metrics.jsonl bytes, weights digest)."""
    from record import tensor_digest

    from ganlab.train.loop import train

    config = load_preset("ring", ["train.epochs=2", "train.ring_size=5120"])
    run = train(config, out, progress="quiet", device=torch.device("cpu"))
    from ganlab.models import build_discriminator, build_generator

    g, d = build_generator(config), build_discriminator(config)
    load_weights(run.weights("final"), {"g": g, "d": d})
    return (out / "metrics.jsonl").read_bytes(), tensor_digest([*g.state_dict().values(), *d.state_dict().values()])
