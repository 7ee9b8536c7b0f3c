"""Fully connected generator and discriminator, as in the reference study."""

from __future__ import annotations

import math

import torch
from torch import nn

from ganlab.config import MLPDiscriminatorConfig, MLPGeneratorConfig, RunConfig
from ganlab.data.spec import DatasetSpec
from ganlab.models.init import glorot_
from ganlab.models.minibatch import judge_packs, minibatch_std

_OUTPUTS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity}


def hidden_stack(
    in_features: int, widths: list[int], slope: float, dropout: float, batch_norm: bool
) -> nn.Sequential:
    """Linear -> [BatchNorm] -> LeakyReLU -> [Dropout] for each width.

    The LeakyReLU works in place: it overwrites the product's output, which nothing else keeps
    (the backward pass reads the sign of its output, the same as its input's), instead of
    allocating one more activation per layer."""
    layers: list[nn.Module] = []
    for width in widths:
        layers.append(nn.Linear(in_features, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.LeakyReLU(slope, inplace=True))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_features = width
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (B, latent_dim) -> x (B, *data_shape), squashed by the configured output activation.

    Unconditional: class labels `y` are ignored. With `dropout_at_sampling`, the dropout layers
    stay in train mode when G is put in eval mode (`train(False)`), so sampling draws masks too.
    """

    def __init__(self, config: MLPGeneratorConfig, latent_dim: int, data_shape: tuple[int, ...]):
        super().__init__()
        self.data_shape = data_shape
        self.dropout_at_sampling = config.dropout_at_sampling
        self.body = hidden_stack(latent_dim, config.hidden, config.slope, config.dropout, config.batch_norm)
        self.head = nn.Linear(config.hidden[-1], math.prod(data_shape))
        self.output = _OUTPUTS[config.output]()

    @classmethod
    def from_config(cls, config: RunConfig, spec: DatasetSpec) -> "MLPGenerator":
        return cls(config.model.g, config.noise.dim, spec.shape)

    def initialise(self, scheme: str) -> "MLPGenerator":
        """"glorot" (Keras', the study's) or "torch" (PyTorch's defaults, kept)."""
        return glorot_(self) if scheme == "glorot" else self

    def train(self, mode: bool = True) -> "MLPGenerator":
        super().train(mode)
        if self.dropout_at_sampling:
            for layer in self.body:
                if isinstance(layer, nn.Dropout):
                    layer.train()
        return self

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = self.output(self.head(self.body(z)))
        return x.view(z.shape[0], *self.data_shape)


class MLPDiscriminator(nn.Module):
    """x (B, *data_shape) -> logit (B,). The loss applies the sigmoid, which is stabler.

    With `pack` m, the hidden stack reads m samples at once and D returns one logit per pack,
    (B / m,); with `minibatch_std`, the head reads one more feature (`ganlab.models.minibatch`).
    Unconditional: class labels `y` are ignored."""

    def __init__(self, config: MLPDiscriminatorConfig, data_shape: tuple[int, ...]):
        super().__init__()
        self.pack_size = config.pack
        self.std_group = config.minibatch_std_group if config.minibatch_std else 0
        self.body = hidden_stack(
            config.pack * math.prod(data_shape), config.hidden, config.slope, config.dropout, config.batch_norm
        )
        self.head = nn.Linear(config.hidden[-1] + bool(self.std_group), 1)

    @classmethod
    def from_config(cls, config: RunConfig, spec: DatasetSpec) -> "MLPDiscriminator":
        return cls(config.model.d, spec.shape)

    def initialise(self, scheme: str) -> "MLPDiscriminator":
        """"glorot" (Keras', the study's) or "torch" (PyTorch's defaults, kept)."""
        return glorot_(self) if scheme == "glorot" else self

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return judge_packs(self._judge, x, self.pack_size)

    def _judge(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x.flatten(1))  # (B, hidden[-1])
        if self.std_group:
            h = minibatch_std(h, self.std_group)
        return self.head(h).squeeze(1)
