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
        return ConvGenerator(g, config.noise.dim, shape)
    return MLPGenerator(g, config.noise.dim, shape)


def build_discriminator(config: RunConfig) -> nn.Module:
    """The discriminator the config describes, for its dataset's shape."""
    return MLPDiscriminator(config.model.d, DATA_SHAPES[config.data.dataset])
