"""A convolutional discriminator: strided convolutions, no pooling (Radford et al. 2016)."""

from __future__ import annotations

import torch
from torch import nn

from ganlab.config import ConfigError, ConvDiscriminatorConfig, RunConfig
from ganlab.data.spec import DatasetSpec
from ganlab.models.init import glorot_
from ganlab.models.minibatch import judge_packs, minibatch_std


class ConvDiscriminator(nn.Module):
    """x (B, C, H, W) -> logit (B,): per filter count, a 4x4 convolution of stride 2 (halving H
    and W, rounded down: 7 -> 3) with LeakyReLU and optional dropout; then one linear layer.

    With `pack` m, the first convolution reads m samples stacked as channels and D returns one
    logit per pack, (B / m,); with `minibatch_std`, the linear layer reads one more channel
    (`ganlab.models.minibatch`). Unconditional: class labels `y` are ignored.
    """

    def __init__(self, config: ConvDiscriminatorConfig, data_shape: tuple[int, ...]):
        super().__init__()
        self.pack_size = config.pack
        self.std_group = config.minibatch_std_group if config.minibatch_std else 0
        channels, h, w = data_shape
        channels *= config.pack
        layers: list[nn.Module] = []
        for filters in config.filters:
            layers += [nn.Conv2d(channels, filters, 4, stride=2, padding=1), nn.LeakyReLU(config.slope)]
            if config.dropout > 0:
                layers.append(nn.Dropout(config.dropout))
            channels, h, w = filters, h // 2, w // 2  # (h + 2 - 4) // 2 + 1
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear((channels + bool(self.std_group)) * h * w, 1)

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
        return judge_packs(self._judge, x, self.pack_size)

    def _judge(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)  # (B, filters[-1], H', W')
        if self.std_group:
            h = minibatch_std(h, self.std_group)
        return self.head(h.flatten(1)).squeeze(1)
