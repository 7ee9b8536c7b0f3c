"""Fully connected generator and discriminator, as in the reference study."""

from __future__ import annotations

import math

import torch
from torch import nn

from ganlab.config import MLPDiscriminatorConfig, MLPGeneratorConfig, RunConfig
from ganlab.data.spec import DatasetSpec
from ganlab.models.init import glorot_

_OUTPUTS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity}


def hidden_stack(
    in_features: int, widths: list[int], slope: float, dropout: float, batch_norm: bool
) -> nn.Sequential:
    """Linear -> [BatchNorm] -> LeakyReLU -> [Dropout] for each width."""
    layers: list[nn.Module] = []
    for width in widths:
        layers.append(nn.Linear(in_features, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.LeakyReLU(slope))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_features = width
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (B, latent_dim) -> x (B, *data_shape), squashed by the configured output activation.

    Unconditional: class labels `y` are ignored."""

    def __init__(self, config: MLPGeneratorConfig, latent_dim: int, data_shape: tuple[int, ...]):
        super().__init__()
        self.data_shape = data_shape
        self.body = hidden_stack(latent_dim, config.hidden, config.slope, config.dropout, config.batch_norm)
        self.head = nn.Linear(config.hidden[-1], math.prod(data_shape))
        self.output = _OUTPUTS[config.output]()

    @classmethod
    def from_config(cls, config: RunConfig, spec: DatasetSpec) -> "MLPGenerator":
        return cls(config.model.g, config.noise.dim, spec.shape)

    def initialise(self, scheme: str) -> "MLPGenerator":
        """"glorot" (Keras', the study's) or "torch" (PyTorch's defaults, kept)."""
        return glorot_(self) if scheme == "glorot" else self

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = self.output(self.head(self.body(z)))
        return x.view(z.shape[0], *self.data_shape)


class MLPDiscriminator(nn.Module):
    """x (B, *data_shape) -> logit (B,). The loss applies the sigmoid, which is stabler.

    Unconditional: class labels `y` are ignored."""

    def __init__(self, config: MLPDiscriminatorConfig, data_shape: tuple[int, ...]):
        super().__init__()
        self.body = hidden_stack(
            math.prod(data_shape), config.hidden, config.slope, config.dropout, config.batch_norm
        )
        self.head = nn.Linear(config.hidden[-1], 1)

    @classmethod
    def from_config(cls, config: RunConfig, spec: DatasetSpec) -> "MLPDiscriminator":
        return cls(config.model.d, spec.shape)

    def initialise(self, scheme: str) -> "MLPDiscriminator":
        """"glorot" (Keras', the study's) or "torch" (PyTorch's defaults, kept)."""
        return glorot_(self) if scheme == "glorot" else self

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.body(x.flatten(1))).squeeze(1)
