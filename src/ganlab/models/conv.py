"""The study's convolutional generator."""

from __future__ import annotations

import math

import torch
from torch import nn

from ganlab.config import ConfigError, ConvGeneratorConfig, RunConfig
from ganlab.data.spec import DatasetSpec
from ganlab.models.init import glorot_
from ganlab.models.mlp import _OUTPUTS


class ConvGenerator(nn.Module):
    """z (B, latent_dim) -> Dense -> (B, C, H, W) -> 3x3 'same' convs with LeakyReLU -> conv to C.

    The study left the Dense layer's activation open; ganlab uses the same LeakyReLU as the convs.
    The convolutions run channels_last (NHWC), oneDNN's fast layout on CPUs (1.03-1.27x on the
    conv-G step, benchmarks/trainer_proposals.py) and the tensor cores' on GPUs.
    """

    def __init__(self, config: ConvGeneratorConfig, latent_dim: int, data_shape: tuple[int, ...]):
        super().__init__()
        if len(data_shape) != 3:
            raise ValueError(f"the conv generator needs image data (C, H, W), got shape {data_shape}")
        self.data_shape = data_shape
        self.dense = nn.Sequential(nn.Linear(latent_dim, math.prod(data_shape)), nn.LeakyReLU(config.slope, inplace=True))
        layers: list[nn.Module] = []
        channels = data_shape[0]
        for filters in config.filters:
            layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.LeakyReLU(config.slope, inplace=True)]
            channels = filters
        layers += [nn.Conv2d(channels, data_shape[0], 3, padding=1), _OUTPUTS[config.output]()]
        self.convs = nn.Sequential(*layers).to(memory_format=torch.channels_last)

    @classmethod
    def from_config(cls, config: RunConfig, spec: DatasetSpec) -> "ConvGenerator":
        if not spec.is_image:
            raise ConfigError(
                f"model.g.kind: the conv generator needs image data, got dataset {spec.name!r} of shape {spec.shape}"
            )
        return cls(config.model.g, config.noise.dim, spec.shape)

    def initialise(self, scheme: str) -> "ConvGenerator":
        """"glorot" (Keras', the study's) or "torch" (PyTorch's defaults, kept)."""
        return glorot_(self) if scheme == "glorot" else self

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = self.dense(z).view(z.shape[0], *self.data_shape).contiguous(memory_format=torch.channels_last)
        return self.convs(x).contiguous()
