"""The study's networks: shapes and parameter counts."""

from __future__ import annotations

import pytest
import torch

from ganlab.config import load_preset
from ganlab.models import build_discriminator, build_generator


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_baseline_parameter_counts():
    c = load_preset("fc")
    # G: 100->128->256->512->1024->784, D: 784->1024->512->256->128->1 (weights + biases).
    assert n_params(build_generator(c)) == 1_506_448
    assert n_params(build_discriminator(c)) == 1_492_993


def test_conv_generator_parameter_count_and_shape():
    c = load_preset("conv-g")
    g = build_generator(c)
    # Dense 100->784, then 3x3 convs 1->8->16->32->1.
    expected = (100 * 784 + 784) + (9 * 1 * 8 + 8) + (9 * 8 * 16 + 16) + (9 * 16 * 32 + 32) + (9 * 32 * 1 + 1)
    assert n_params(g) == expected
    x = g(torch.randn(5, 100))
    assert x.shape == (5, 1, 28, 28)
    assert x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("preset", ["fc", "fc-batchnorm-g", "fc-dropout-g-40", "fc-dropout-d-30", "ring"])
def test_shapes(preset):
    c = load_preset(preset)
    g, d = build_generator(c), build_discriminator(c)
    x = g(torch.randn(4, c.noise.dim))
    assert d(x).shape == (4,)
    assert x.shape[1:] == ((2,) if preset == "ring" else (1, 28, 28))


def test_batch_norm_and_dropout_are_where_the_study_put_them():
    g = build_generator(load_preset("fc-batchnorm-g"))
    kinds = [type(m).__name__ for m in g.body]
    assert kinds[:3] == ["Linear", "BatchNorm1d", "LeakyReLU"]
    d = build_discriminator(load_preset("fc-dropout-d-30"))
    kinds = [type(m).__name__ for m in d.body]
    assert kinds[:3] == ["Linear", "LeakyReLU", "Dropout"] and d.body[2].p == 0.3


def test_study_presets_start_like_keras():
    """Keras Dense/Conv2D default: Glorot-uniform weights, zero biases (limit sqrt(6 / (in + out)))."""
    g = build_generator(load_preset("fc"))
    first = g.body[0]
    limit = (6 / (100 + 128)) ** 0.5
    assert torch.all(first.bias == 0)
    assert first.weight.abs().max() <= limit and first.weight.abs().max() > 0.9 * limit
    torch_init = build_generator(load_preset("fc", ["model.init=torch"]))
    assert torch_init.body[0].bias.abs().sum() > 0
