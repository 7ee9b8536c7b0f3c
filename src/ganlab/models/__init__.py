"""Generators and discriminators, built from a RunConfig."""

from __future__ import annotations

from torch import nn

from ganlab.config import RunConfig
from ganlab.models.conv import ConvGenerator
from ganlab.models.mlp import MLPDiscriminator, MLPGenerator

DATA_SHAPES: dict[str, tuple[int, ...]] = {"mnist": (1, 28, 28), "ring": (2,)}


def build_generator(config: RunConfig) -> nn.Module:
    """The generator the config describes, for its dataset's shape."""
    shape = DATA_SHAPES[config.data.dataset]
    g = config.model.g
    if g.kind == "conv":
        return initialise(ConvGenerator(g, config.noise.dim, shape), config.model.init)
    return initialise(MLPGenerator(g, config.noise.dim, shape), config.model.init)


def build_discriminator(config: RunConfig) -> nn.Module:
    """The discriminator the config describes, for its dataset's shape."""
    return initialise(MLPDiscriminator(config.model.d, DATA_SHAPES[config.data.dataset]), config.model.init)


def initialise(module: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise linear and conv layers as Keras does ("glorot"), or keep PyTorch's ("torch")."""
    if scheme == "glorot":
        for layer in module.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)
    return module
