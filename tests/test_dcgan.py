"""DCGAN (issue 13): the layers Radford et al. 2016 prescribe, sized for 28x28; the switches every
discriminator takes; refusals naming the field; the presets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganlab.config import ConfigError, load_preset
from ganlab.models import build_discriminator, build_generator
from ganlab.models.dcgan import HalvesBatchNorm2d

SMALL = ["model.g={kind: dcgan, filters: [8, 4]}", "model.d={kind: dcgan, filters: [4, 8]}", "noise.dim=8"]


def _types(module: nn.Module) -> list[str]:
    return [type(m).__name__ for m in module.modules() if not list(m.children())]


def test_generator_projects_reshapes_and_upsamples_to_28x28_in_tanh_range(one_thread):
    torch.manual_seed(0)
    g = build_generator(load_preset("dcgan"))
    assert g.start == (128, 7, 7)
    assert _types(g) == [
        "Linear", "BatchNorm2d", "ReLU", "ConvTranspose2d", "BatchNorm2d", "ReLU", "ConvTranspose2d", "Tanh"
    ]  # fmt: skip
    x = g(torch.randn(5, 100))
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    assert not any(layer.bias is not None for layer in (g.project, g.upsample[2]))  # batch norm shifts instead
    plain = build_generator(load_preset("dcgan", ["model.g.batch_norm=false"]))
    assert _types(plain) == ["Linear", "ReLU", "ConvTranspose2d", "ReLU", "ConvTranspose2d", "Tanh"]
    assert all(layer.bias is not None for layer in (plain.project, plain.upsample[1]))
    assert plain(torch.randn(5, 100)).shape == (5, 1, 28, 28)
    refined = build_generator(load_preset("dcgan", ["model.g.output_conv=true"]))
    assert _types(refined)[-5:] == ["ConvTranspose2d", "BatchNorm2d", "ReLU", "Conv2d", "Tanh"]
    assert refined.upsample[-2].in_channels == 32 and refined.upsample[-2].kernel_size == (3, 3)
    assert refined(torch.randn(5, 100)).shape == (5, 1, 28, 28)


def test_discriminator_has_strided_convs_batch_norm_after_the_first_and_no_pooling(one_thread):
    torch.manual_seed(0)
    d = build_discriminator(load_preset("dcgan"))
    assert _types(d) == ["Conv2d", "LeakyReLU", "Conv2d", "HalvesBatchNorm2d", "LeakyReLU", "Linear"]
    assert all(conv.stride == (2, 2) for conv in d.body if isinstance(conv, nn.Conv2d))
    assert d.head.in_features == 128 * 7 * 7
    assert d(torch.rand(6, 1, 28, 28)).shape == (6,)
    plain = build_discriminator(load_preset("dcgan", ["model.d.batch_norm=false"]))
    assert "HalvesBatchNorm2d" not in _types(plain)


def test_real_and_fake_halves_are_normalised_apart():
    bn = HalvesBatchNorm2d(1)
    real, fake = torch.randn(4, 1, 3, 3) + 5, torch.randn(4, 1, 3, 3) - 5
    out = bn(torch.cat([real, fake]))
    # each half has mean 0 on its own: normalised together, the real half would sit near +1
    assert out[:4].mean().abs() < 1e-5 and out[4:].mean().abs() < 1e-5
    assert torch.allclose(out[:4], nn.functional.batch_norm(real, None, None, training=True), atol=1e-5)


def test_every_discriminator_switch_works_on_the_dcgan(one_thread):
    torch.manual_seed(0)
    config = load_preset("fc", [*SMALL, "model.d.pack=2", "model.d.minibatch_std=true", "model.d.spectral_norm=true"])
    d = build_discriminator(config)
    assert d.head.in_features == (8 + 1) * 7 * 7  # the minibatch-std channel
    assert d(torch.rand(8, 1, 28, 28)).shape == (4,)  # one logit per pack of 2
    convs = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert convs and all(hasattr(m, "parametrizations") for m in convs)


@pytest.mark.parametrize("kind", ["conv", "dcgan"])
@pytest.mark.parametrize("filters", [[4], [4, 8], [4, 8, 16], [4, 8, 16, 16]])
def test_a_conv_discriminator_of_any_depth_judges_28x28(kind, filters, one_thread):
    # Each 4x4 convolution of stride 2 and padding 1 floors: 28 -> 14 -> 7 -> 3 -> 1. A third
    # layer once sized its linear head for 4x4 and failed on the first batch.
    d = build_discriminator(load_preset("fc", [f"model.d={{kind: {kind}, filters: {filters}}}"]))
    side = [28, 14, 7, 3, 1][len(filters)]
    assert d.head.in_features == filters[-1] * side * side
    assert d(torch.rand(6, 1, 28, 28)).shape == (6,)


def test_spectral_norm_of_g_covers_the_transposed_convolutions(one_thread):
    g = build_generator(load_preset("fc", [*SMALL, "model.g.spectral_norm=true"]))
    transposed = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(transposed) == 2 and all(hasattr(m, "parametrizations") for m in transposed)
    assert g(torch.randn(3, 8)).shape == (3, 1, 28, 28)


def test_sizes_that_do_not_fit_are_refused_naming_the_field():
    with pytest.raises(ConfigError, match=r"model.g.filters: 3 upsamplings need H and W divisible by 8, got 28x28"):
        build_generator(load_preset("dcgan", ["model.g.filters=[64, 32, 16]"]))
    with pytest.raises(ConfigError, match="model.g.kind: the dcgan generator needs image data"):
        build_generator(load_preset("ring", ["model.g={kind: dcgan}"]))
    with pytest.raises(ConfigError, match="model.d.kind: the dcgan discriminator needs image data"):
        build_discriminator(load_preset("ring", ["model.d={kind: dcgan}"]))


def test_presets_use_the_dcgan_and_the_study_conv_g_stays():
    big, small = load_preset("dcgan"), load_preset("dcgan-small")
    assert (big.model.g.kind, big.model.d.kind) == ("dcgan", "dcgan")
    assert small.model.g.filters == [64, 32] and small.model.d.filters == [32, 64]
    assert big.optim.g.betas == (0.5, 0.999) and big.optim.g.lr == 2e-4  # the DCGAN paper's Adam
    assert load_preset("conv-g").model.g.kind == "conv"


def test_the_bench_races_the_dcgan_against_the_tutorial_dcgan(one_thread):
    from ganlab.bench.flops import step_flops, tutorial_step_flops
    from ganlab.bench.runner import load_baseline
    from ganlab.bench.suite import _beyond_the_tutorial, bench_presets
    from ganlab.errors import GanlabError

    assert set(bench_presets("dcgan-small")) == {"dcgan-small"}
    for overrides, lacks in [
        (["model.conditional=projection"], "model.conditional=projection"),
        (["model.d={kind: mlp}"], "a dcgan G with a mlp D"),
        (["model.d.batch_norm=false"], "a dcgan D without batch norm"),
    ]:
        assert lacks in _beyond_the_tutorial(load_preset("dcgan", overrides))
    with pytest.raises(GanlabError, match="and the DCGAN, not dataset ring"):
        bench_presets("ring")

    baseline = load_baseline()
    config = load_preset("dcgan", ["model.g.filters=[8, 4]", "model.d.filters=[4, 8]", "train.batch_size=8"])
    gan = baseline.TutorialGAN(config, torch.zeros(16, 1, 28, 28, dtype=torch.uint8))
    gan.step()
    assert gan.G(torch.randn(2, 100)).shape == (2, 1, 28, 28) and len(gan.history) == 1
    assert any(isinstance(m, nn.ConvTranspose2d) for m in gan.G) and any(isinstance(m, nn.BatchNorm2d) for m in gan.D)
    # The same convolutions: the tutorial's step differs only by D's weight gradients in its G
    # step (ganlab's G step needs none), so it does more work, but not twice as much.
    ours, theirs = step_flops(config), tutorial_step_flops(baseline, config)
    assert ours < theirs < 1.5 * ours
