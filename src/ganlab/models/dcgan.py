"""DCGAN (Radford et al. 2016), sized for small images such as MNIST's 28x28.

G: project z and reshape, then transposed convolutions with batch norm and ReLU, tanh at the end.
D: strided convolutions with LeakyReLU, batch norm after all but the first, no pooling. Both
take class labels when `model.conditional` says so (`ganlab.models.conditional`).

Why D is its own kind rather than the `conv` D with a switch: batch norm changes D's layers
(bias-free convolutions before it) and how a batch is judged (`HalvesBatchNorm2d`), and a
conditional D needs its features apart from its head; the `conv` D stays as it is, bit for bit.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import nn

from ganlab.config import ConfigError, RunConfig
from ganlab.config.schema import DCGANDiscriminatorConfig, DCGANGeneratorConfig
from ganlab.data.spec import DatasetSpec
from ganlab.models.conditional import Projection, num_labels, one_hot, require_labels
from ganlab.models.minibatch import _halves, judge_packs, minibatch_std
from ganlab.models.mlp import _OUTPUTS

Tensor = torch.Tensor
# The convolutions run channels_last (NHWC), oneDNN's fast layout on CPUs (as the conv G's):
# 1.17x on the dcgan step on this project's CPU; the networks still take and give NCHW tensors.
CHANNELS_LAST = torch.channels_last


def _needs_image(spec: DatasetSpec, net: str) -> None:
    if not spec.is_image:
        raise ConfigError(
            f"model.{net}.kind: the dcgan {'generator' if net == 'g' else 'discriminator'} needs image data, "
            f"got dataset {spec.name!r} of shape {spec.shape}"
        )


def glorot_all_(module: nn.Module) -> nn.Module:
    """Glorot-uniform weights (Keras', the study's init) on every Linear and (transposed)
    convolution, zero biases where a layer has one; batch norm keeps its (1, 0)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


class HalvesBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that normalises each half of an even batch with that half's statistics.

    D judges `cat([x_real, x_fake])` in one pass (`ganlab.train.step`): apart, the real and the
    fake halves are normalised as if D saw them in separate batches, as DCGAN's loop and
    ganhacks (tip 4) do, without a second forward pass. On an odd batch, or a batch of one kind,
    nothing changes but the batch size its statistics come from.
    """

    def forward(self, x: Tensor) -> Tensor:
        sizes = _halves(x.shape[0])
        if len(sizes) == 1:
            return super().forward(x)
        return torch.cat([nn.BatchNorm2d.forward(self, part) for part in x.split(sizes)])


class DCGANGenerator(nn.Module):
    """z (B, latent_dim) -> x (B, C, H, W), squashed by the configured output activation.

    With filters [f0, ..., fk-1]: Linear to f0 x H/2^k x W/2^k, batch norm, ReLU; then a 4x4
    transposed convolution of stride 2 per filter count, each doubling H and W, to f1, ..., and
    last to C channels (with `output_conv`, to fk-1 // 2 channels and a 3x3 convolution to C).
    Layers followed by batch norm have no bias (its shift takes that role); with `batch_norm`
    off, every layer has one and ReLU follows it directly.
    """

    def __init__(self, config: DCGANGeneratorConfig, latent_dim: int, data_shape: tuple[int, ...]):
        super().__init__()
        channels, h, w = data_shape
        scale = 2 ** len(config.filters)
        if h % scale or w % scale:
            raise ConfigError(
                f"model.g.filters: {len(config.filters)} upsamplings need H and W divisible by {scale}, got {h}x{w}"
            )
        self.start = (config.filters[0], h // scale, w // scale)
        norm = config.batch_norm
        self.project = nn.Linear(latent_dim, math.prod(self.start), bias=not norm)
        layers: list[nn.Module] = [nn.BatchNorm2d(config.filters[0])] if norm else []
        layers.append(nn.ReLU())
        widths = [*config.filters, config.filters[-1] // 2] if config.output_conv else config.filters
        for c_in, c_out in pairwise(widths):
            layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=not norm))
            layers += [nn.BatchNorm2d(c_out), nn.ReLU()] if norm else [nn.ReLU()]
        if config.output_conv:
            layers.append(nn.Conv2d(widths[-1], channels, 3, padding=1))
        else:
            layers.append(nn.ConvTranspose2d(widths[-1], channels, 4, stride=2, padding=1))
        layers.append(_OUTPUTS[config.output]())
        self.upsample = nn.Sequential(*layers).to(memory_format=CHANNELS_LAST)

    @classmethod
    def from_config(cls, config: RunConfig, spec: DatasetSpec) -> "DCGANGenerator":
        _needs_image(spec, "g")
        return cls(config.model.g, config.noise.dim, spec.shape)

    def initialise(self, scheme: str) -> "DCGANGenerator":
        """"glorot" (Keras', the study's) or "torch" (PyTorch's defaults, kept)."""
        return glorot_all_(self) if scheme == "glorot" else self

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        # Labels reach this G through `LabelledGenerator`, as part of z.
        h = self.project(z).view(z.shape[0], *self.start).contiguous(memory_format=CHANNELS_LAST)
        return self.upsample(h).contiguous()


class DCGANDiscriminator(nn.Module):
    """x (B, C, H, W) -> logit (B,): per filter count a 4x4 convolution of stride 2 (halving H
    and W, rounded down: 7 -> 3) with LeakyReLU, batch norm (`HalvesBatchNorm2d`) after all
    but the first; then one linear layer over the flattened features.

    Switches: `pack` m judges m samples stacked as channels, one logit per pack; `minibatch_std`
    adds one channel before the linear layer; `spectral_norm` (applied by the registry) covers
    the convolutions and the linear layer. Conditional (`num_classes` > 0): "concat" appends y as
    K constant one-hot channels to x; "projection" adds <embed(y), features> to the logit.
    """

    def __init__(
        self, config: DCGANDiscriminatorConfig, data_shape: tuple[int, ...], num_classes: int = 0, mode: str = "none"
    ):
        super().__init__()
        self.pack_size = config.pack
        self.std_group = config.minibatch_std_group if config.minibatch_std else 0
        self.num_classes = num_classes
        self.concat = mode == "concat"
        channels, h, w = data_shape
        channels = channels * config.pack + (num_classes if self.concat else 0)
        layers: list[nn.Module] = []
        for i, filters in enumerate(config.filters):
            norm = config.batch_norm and i > 0
            layers.append(nn.Conv2d(channels, filters, 4, stride=2, padding=1, bias=not norm))
            if norm:
                layers.append(HalvesBatchNorm2d(filters))
            layers.append(nn.LeakyReLU(config.slope))
            channels, h, w = filters, h // 2, w // 2  # (h + 2 - 4) // 2 + 1
        self.body = nn.Sequential(*layers).to(memory_format=CHANNELS_LAST)
        features = (channels + bool(self.std_group)) * h * w
        self.head = nn.Linear(features, 1)
        self.projection = Projection(num_classes, features) if mode == "projection" else None

    @classmethod
    def from_config(cls, config: RunConfig, spec: DatasetSpec) -> "DCGANDiscriminator":
        _needs_image(spec, "d")
        return cls(config.model.d, spec.shape, num_labels(config, spec), config.model.conditional)

    def initialise(self, scheme: str) -> "DCGANDiscriminator":
        """"glorot" (Keras') or "torch" (PyTorch's defaults, kept); the projection keeps its own."""
        if scheme == "glorot":
            glorot_all_(self.body)
            glorot_all_(self.head)
        return self

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        if not self.num_classes:
            return judge_packs(lambda packs: self.head(self._features(packs)).squeeze(1), x, self.pack_size)
        y = require_labels(y)
        if self.concat:
            maps = one_hot(y, self.num_classes, x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
            x = torch.cat([x, maps], dim=1)
        h = self._features(x)
        logit = self.head(h).squeeze(1)
        return logit if self.projection is None else logit + self.projection(h, y)

    def _features(self, x: Tensor) -> Tensor:
        h = self.body(x.contiguous(memory_format=CHANNELS_LAST))  # (B, filters[-1], H', W')
        if self.std_group:
            h = minibatch_std(h, self.std_group)
        return h.flatten(1)
