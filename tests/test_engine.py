"""How the step is computed: `auto` choices per device, bf16 autocast and torch.compile on the
CPU (the CUDA path is the same code with other choices), channels_last conv generator."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganlab.config import ConfigError, load_preset
from ganlab.models.conv import ConvGenerator
from ganlab.train.engine import Engine
from ganlab.train.bundle import build_bundle
from ganlab.train.loop import train
from ganlab.train.step import train_step

SMALL_RING = ["train.ring_size=1280", "train.epochs=1"]  # 10 steps


def test_auto_is_fp32_eager_on_cpu_and_bf16_cuda_graphs_on_cuda():
    config = load_preset("ring").train
    assert Engine.for_run(config, torch.device("cpu")) == Engine(torch.device("cpu"), "fp32", "eager")
    assert Engine.for_run(config, torch.device("cuda")) == Engine(torch.device("cuda"), "bf16", "reduce-overhead")
    chosen = load_preset("ring", ["train.precision=fp32", "train.compile=default"]).train
    assert Engine.for_run(chosen, torch.device("cuda")) == Engine(torch.device("cuda"), "fp32", "default")


def test_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="train.precision"):
        load_preset("ring", ["train.precision=fp16"])


def _steps(config, n: int = 3, seed: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    torch.manual_seed(seed)
    gan = build_bundle(config, torch.device("cpu"))
    x = torch.randn(n, config.train.batch_size, 2, generator=torch.Generator().manual_seed(1))
    y = torch.zeros(config.train.batch_size, dtype=torch.int64)
    stats = torch.stack([train_step(gan, [(x[i], y)]) for i in range(n)])
    return stats, [p.detach().clone() for p in gan.g.parameters()]


def test_bf16_autocast_runs_the_forward_passes_in_bf16_and_keeps_fp32_weights(one_thread):
    config = load_preset("ring", ["train.precision=bf16"])
    torch.manual_seed(0)
    gan = build_bundle(config, torch.device("cpu"))
    seen: list[torch.dtype] = []
    gan.d.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    before = [p.detach().clone() for p in gan.g.parameters()]
    batch = config.train.batch_size
    stats = train_step(gan, [(torch.randn(batch, 2), torch.zeros(batch, dtype=torch.int64))])
    assert seen == [torch.bfloat16, torch.bfloat16]  # the D step's and the G step's D passes
    assert stats.dtype == torch.float32 and torch.isfinite(stats).all()
    assert all(p.dtype == torch.float32 for p in gan.g.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, gan.g.parameters()))
    # Close to fp32 for a few steps (bf16 keeps ~3 significant digits), not the same.
    bf16, _ = _steps(config)
    fp32, _ = _steps(load_preset("ring", ["train.precision=fp32"]))
    torch.testing.assert_close(bf16[:, :2], fp32[:, :2], rtol=0.05, atol=0.02)
    assert not torch.equal(bf16, fp32)


def test_compiled_step_matches_the_eager_step(one_thread):
    eager_stats, eager_g = _steps(load_preset("ring", ["train.compile=eager"]))
    compiled_stats, compiled_g = _steps(load_preset("ring", ["train.compile=default"]))
    torch.testing.assert_close(compiled_stats, eager_stats, rtol=1e-4, atol=1e-5)
    for a, b in zip(compiled_g, eager_g):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_run_json_says_how_the_run_was_computed(tmp_path: Path, one_thread):
    run = train(load_preset("ring", SMALL_RING + ["train.precision=bf16"]), tmp_path / "run", progress="quiet")
    info = run.read_info()
    assert (info["device"], info["precision"], info["compile"]) == ("cpu", "bf16", "eager")
    assert info["status"] == "complete"


def test_conv_generator_runs_channels_last_and_matches_the_plain_layout(one_thread):
    config = load_preset("conv-g", ["model.g.filters=[4,8]", "noise.dim=16"])
    torch.manual_seed(0)
    g = build_bundle(config, torch.device("cpu")).g
    assert isinstance(g, ConvGenerator)
    assert g.convs[0].weight.is_contiguous(memory_format=torch.channels_last)
    z = torch.randn(8, 16)
    out = g(z)
    assert out.shape == (8, 1, 28, 28) and out.is_contiguous()
    # The same weights in the default layout give the same images.
    plain = g.dense(z).view(8, 1, 28, 28)
    for layer in g.convs:
        if isinstance(layer, torch.nn.Conv2d):
            plain = torch.nn.functional.conv2d(plain, layer.weight.contiguous(), layer.bias, padding=1)
        else:
            plain = layer(plain)
    torch.testing.assert_close(out, plain, rtol=1e-5, atol=1e-6)
