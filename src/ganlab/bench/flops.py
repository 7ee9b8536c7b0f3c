"""FLOPs of one training step, counted analytically from the config.

Only matrix products and convolutions are counted, as 2 FLOPs per multiply-add: they are over 97%
of the arithmetic (activations, losses and Adam are O(activations + parameters), a few MFLOP).
For a layer with `m` multiply-adds per sample, over `n` samples:

    forward                      2 n m
    backward, weight gradient    2 n m   (only when the layer's weights require grad)
    backward, input gradient     2 n m   (only when the layer's input requires grad: never for
                                          the first layer of a network fed data or noise)

So the study's FC GAN (G 100-128-256-512-1024-784, D 784-1024-512-256-128-1, batch 128) costs
4.18 GFLOP per ganlab step with `g_noise: fresh`, 3.80 with `reuse`, and 4.56 in the tutorial
loop, which also computes D's weight gradients in the G step.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from ganlab.config import RunConfig
from ganlab.models import DATA_SHAPES

Style = Literal["ganlab", "tutorial"]


class NetworkMacs(NamedTuple):
    """Multiply-adds per sample of one network: all layers, and the first layer alone."""

    total: int
    first: int


def generator_macs(config: RunConfig) -> NetworkMacs:
    """Multiply-adds per sample of G's linear and conv layers (biases and activations not counted)."""
    g = config.model.g
    shape = DATA_SHAPES[config.data.dataset]
    out = math.prod(shape)
    if g.kind == "conv":
        channels, height, width = shape
        first = config.noise.dim * out  # the Dense layer to (C, H, W)
        macs, c_in = first, channels
        for c_out in [*g.filters, channels]:
            macs += height * width * c_out * c_in * 9  # 3x3 'same' convolution
            c_in = c_out
        return NetworkMacs(macs, first)
    widths = [config.noise.dim, *g.hidden, out]
    return NetworkMacs(_chain(widths), widths[0] * widths[1])


def discriminator_macs(config: RunConfig) -> NetworkMacs:
    """Multiply-adds per sample of D's linear layers (input flattened, one logit out)."""
    widths = [math.prod(DATA_SHAPES[config.data.dataset]), *config.model.d.hidden, 1]
    return NetworkMacs(_chain(widths), widths[0] * widths[1])


def _chain(widths: list[int]) -> int:
    return sum(a * b for a, b in zip(widths, widths[1:]))


def step_flops(config: RunConfig, style: Style = "ganlab", batch: int | None = None) -> float:
    """FLOPs of one D step plus one G step on a batch (default: the config's batch size).

    style "ganlab": D sees real and fake in one pass; the G step computes no weight gradients for
    D, and runs G again only with `train.g_noise: fresh`. style "tutorial": the same products plus
    D's weight gradients in the G step, with a fresh G forward (the tutorial baseline).
    """
    b = batch or config.train.batch_size
    g, d = generator_macs(config), discriminator_macs(config)
    fresh = style == "tutorial" or config.train.g_noise == "fresh"
    flops = 2 * b * g.total  # G forward, x_fake = G(z)
    # D step on 2b samples: forward, weight gradients, input gradients past the first layer.
    flops += 2 * (2 * b) * (d.total + d.total + (d.total - d.first))
    if fresh:
        flops += 2 * b * g.total  # a new x_fake for the G step
    # G step: D forward and input gradients on b fakes (plus D's weight gradients in the tutorial),
    # then G's weight gradients and input gradients past its first layer (z needs none).
    flops += 2 * b * (d.total + d.total + (d.total if style == "tutorial" else 0))
    flops += 2 * b * (g.total + (g.total - g.first))
    return float(flops)
