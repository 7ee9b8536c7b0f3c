"""A convolutional discriminator: strided convolutions, no pooling (Radford et al. 2016)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ganlab.config import ConfigError, ConvDiscriminatorConfig, RunConfig
from ganlab.data.spec import DatasetSpec
from ganlab.models.init import glorot_


class ConvDiscriminator(nn.Module):
    """x (B, C, H, W) -> logit (B,): per filter count, a 4x4 convolution of stride 2 (halving H
    and W, rounded up) with LeakyReLU and optional dropout; then one linear layer.

    Unconditional: class labels `y` are ignored.
    """

    def __init__(self, config: ConvDiscriminatorConfig, data_shape: tuple[int, ...]):
        super().__init__()
        channels, h, w = data_shape
        layers: list[nn.Module] = []
        for filters in config.filters:
            layers += [nn.Conv2d(channels, filters, 4, stride=2, padding=1), nn.LeakyReLU(config.slope)]
            if config.dropout > 0:
                layers.append(nn.Dropout(config.dropout))
            channels, h, w = filters, math.ceil(h / 2), math.ceil(w / 2)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(channels * h * w, 1)

    @classmethod
    def from_config(cls, config: RunConfig, spec: DatasetSpec) -> "ConvDiscriminator":
        if not spec.is_image:
            raise ConfigError(
                f"model.d.kind: the conv discriminator needs image data, got dataset {spec.name!r} of shape {spec.shape}"
            )
        return cls(config.model.d, spec.shape)

    def initialise(self, scheme: str) -> "ConvDiscriminator":
        """"glorot" (Keras') or "torch" (PyTorch's defaults, kept)."""
        return glorot_(self) if scheme == "glorot" else self

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.body(x).flatten(1)).squeeze(1)
