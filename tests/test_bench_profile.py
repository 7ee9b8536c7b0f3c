"""`ganlab bench PRESET --profile`: the step's time split by category, its matmuls by kind (forward,
weight gradients, input gradients) with FLOPs that add up to a hand count. No timing is asserted."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from ganlab.bench.profile import BETWEEN, FORWARD, INPUT_GRAD, WEIGHT_GRAD, profile_step
from ganlab.bench.runner import BenchData
from ganlab.config import load_preset


def test_the_profile_tells_each_kind_of_matmul_and_accounts_for_the_step(one_thread):
    b, z, g1, d1 = 16, 100, 32, 64
    config = load_preset("fc", [f"model.g.hidden=[{g1}]", f"model.d.hidden=[{d1}]", f"train.batch_size={b}"])
    images = torch.zeros(4 * b, 1, 28, 28, dtype=torch.uint8)
    entry = profile_step(config, BenchData(images, torch.zeros(4 * b, dtype=torch.int64), "blank"), 1, steps=2)
    # Multiply-adds per sample: G (z -> g1 -> 784), D (784 -> d1 -> 1), and their first layers.
    g, d, g_first, d_first = z * g1 + g1 * 784, 784 * d1 + d1, z * g1, 784 * d1
    # D's update sees 2b samples (real and fake), G's b; G runs forward twice (`g_noise: fresh`).
    expected = {
        FORWARD: 2 * (2 * b * g + 2 * b * d + b * d),
        WEIGHT_GRAD: 2 * (2 * b * d + b * g),  # no D weight gradients in G's update
        INPUT_GRAD: 2 * (2 * b * (d - d_first) + b * d + b * (g - g_first)),  # none for data or noise
    }
    assert {kind: m["gflop"] * 1e9 for kind, m in entry["matmul"].items()} == pytest.approx(expected)
    categories = entry["categories"]
    assert {"activations", "optimizer updates", "loss", "bias gradients", BETWEEN} <= set(categories)
    assert sum(c["ms"] for c in categories.values()) == pytest.approx(entry["profiled_step_ms"])
    assert sum(c["share"] for c in categories.values()) == pytest.approx(1.0)
    assert all(m["gflop_per_s"] > 0 for m in entry["matmul"].values()) and entry["step_ms"] > 0
    assert entry["page_faults_per_step"] >= 0  # counted over the unprofiled steps


def test_profile_refuses_what_it_cannot_feed():
    from test_bench import _app

    result = CliRunner().invoke(_app(), ["bench", "ring", "--profile"])
    assert result.exit_code == 2 and "bench ring --profile: profiles MNIST steps, not dataset ring" in result.output
    result = CliRunner().invoke(_app(), ["bench", "fc", "--profile", "--device", "cuda:0"])
    assert result.exit_code == 2
