"""`ganlab bench`: FLOP counts against hand counts, the interleaved timer, the JSON record, packing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from ganlab.bench.flops import step_flops, tutorial_step_flops
from ganlab.bench.runner import Spread, interleave, load_baseline, steps_per_epoch
from ganlab.bench.suite import _beyond_the_tutorial, bench_presets
from ganlab.cli.bench import bench_command
from ganlab.config import load_preset
from ganlab.errors import GanlabError

FAKE = Path(__file__).parent / "fixtures" / "fake_contender.py"  # a Keras contender without TensorFlow

# Multiply-adds per sample, by hand from the study's layer widths: all layers, and the first.
FC_G, FC_G1 = 100 * 128 + 128 * 256 + 256 * 512 + 512 * 1024 + 1024 * 784, 100 * 128  # 1,503,744
FC_D, FC_D1 = 784 * 1024 + 1024 * 512 + 512 * 256 + 256 * 128 + 128 * 1, 784 * 1024  # 1,491,072
CONV_G, CONV_G1 = 100 * 784 + 28 * 28 * 9 * (1 * 8 + 8 * 16 + 16 * 32 + 32 * 1), 100 * 784  # dense + four 3x3 convs


def hand_count(g: int, g1: int, d: int, d1: int, b: int, fresh: bool = True, n_critic: int = 1) -> int:
    """FLOPs of a ganlab step at 2 per multiply-add, from the networks' multiply-adds per sample."""
    # Each D update: G forward on b, then D forward, weight gradients and input gradients past its
    # first layer (its input, real or detached fake, needs none) on 2b.
    d_update = 2 * b * g + 2 * (2 * b) * (d + d + (d - d1))
    # G update: [a fresh G forward], D forward and input gradients (no weight gradients) on b
    # fakes, then G's weight gradients and input gradients past its first layer (z needs none).
    g_update = (2 * b * g if fresh else 0) + 2 * b * (d + d) + 2 * b * (g + g - g1)
    return n_critic * d_update + g_update


def test_fc_step_flops_match_a_hand_count(one_thread):
    assert step_flops(load_preset("fc")) == hand_count(FC_G, FC_G1, FC_D, FC_D1, 128) == 4_179_230_720
    reuse = load_preset("fc", ["train.g_noise=reuse"])
    assert step_flops(reuse) == hand_count(FC_G, FC_G1, FC_D, FC_D1, 128, fresh=False) == 3_794_272_256
    # The tutorial also computes D's weight gradients in its G step.
    assert tutorial_step_flops(load_baseline(), load_preset("fc")) == 4_179_230_720 + 2 * 128 * FC_D


def test_conv_step_flops_follow_the_real_step(one_thread):
    config = load_preset("conv-g")
    assert CONV_G == 4_876_480
    assert step_flops(config) == hand_count(CONV_G, CONV_G1, FC_D, FC_D1, 128)
    assert step_flops(config, batch=64) == pytest.approx(step_flops(config) / 2)
    # Two D updates per G step: the counter sees the second one because the real step runs it.
    two = load_preset("conv-g", ["train.n_critic=2"])
    assert step_flops(two) == hand_count(CONV_G, CONV_G1, FC_D, FC_D1, 128, n_critic=2)
    assert steps_per_epoch(two, 60_000) == 235 and steps_per_epoch(config, 60_000) == 469


def test_interleave_alternates_the_order_and_times_every_round():
    calls: list[str] = []
    cases = {name: (lambda n, name=name: calls.extend([name] * n)) for name in "ab"}
    seconds = interleave(cases, steps=2, repeats=3, warmup=1)
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] + ["b", "b", "a", "a"] + ["a", "a", "b", "b"]
    assert set(seconds) == {"a", "b"} and all(len(v) == 3 and min(v) >= 0 for v in seconds.values())
    assert Spread.of([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0)


def test_tutorial_baseline_trains_the_study_layers(one_thread):
    baseline = load_baseline()
    config = load_preset("conv-g", ["model.g.filters=[2]", "model.d.hidden=[16]"])
    images = torch.randint(0, 256, (300, 1, 28, 28), dtype=torch.uint8)
    gan = baseline.TutorialGAN(config, images)
    assert gan.steps_per_epoch == 3 and isinstance(gan.D[-1], torch.nn.Sigmoid)
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.3 for m in gan.D)  # conv-g's D has 30% dropout
    before = [p.detach().clone() for p in gan.G.parameters()]
    for _ in range(4):  # crosses an epoch boundary: the loader is reshuffled
        gan.step()
    assert len(gan.history) == 4 and all(torch.isfinite(torch.tensor(h)).all() for h in gan.history)
    assert not all(torch.equal(a, b) for a, b in zip(before, gan.G.parameters()))


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("bench")(bench_command)
    app.command("other")(lambda: None)  # two commands, so that `bench` is a sub-command as in ganlab
    return app


def test_bench_json_reports_every_field(one_thread, isolated_data_env, monkeypatch):
    # A small preset keeps this fast; the fields are those of `ganlab bench fc`. The Keras
    # contenders are a stand-in script that speaks their protocol (TensorFlow is not needed).
    monkeypatch.setattr("ganlab.bench.suite.keras_missing", lambda: None)
    result = CliRunner().invoke(
        _app(),
        ["bench", "fc-width-128", "--steps", "3", "--repeats", "2", "--no-study", "--json", "--keras-baseline", str(FAKE)],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["machine"]["threads"] == 1 and record["machine"]["cores"] >= 1
    assert record["settings"]["data"].startswith("random pixels")
    assert record["matmul_gflop_per_s"]["median"] > 0
    fc = record["targets"]["fc-width-128"]
    assert fc["steps_per_epoch"] == 469 and fc["g_noise"] == "fresh"
    for loop in (fc["baseline"], fc["ganlab"], *fc["ganlab_by_g_noise"].values()):
        spread = loop["seconds_per_epoch"]
        assert 0 < spread["min"] <= spread["median"] <= spread["max"]
        assert loop["gflop_per_step"] > 0 and loop["gflop_per_s"] > 0 and loop["fraction_of_matmul"] > 0
    assert fc["ganlab"] == fc["ganlab_by_g_noise"]["fresh"]
    assert fc["speedup"] == pytest.approx(
        fc["baseline"]["seconds_per_epoch"]["median"] / fc["ganlab"]["seconds_per_epoch"]["median"]
    )
    assert fc["matmul_floor_seconds_per_epoch"] > 0 and record["study"] is None
    assert set(fc["contenders"]) == {"keras", "keras-xla"} and "contenders_skipped" not in fc
    for name, loop in fc["contenders"].items():  # the first step (tracing) apart from the steady medians
        per_step = loop["seconds_per_epoch"]["median"] / fc["steps_per_epoch"]
        assert loop["first_step_seconds"] == 2.0 and loop["tracing_seconds"] == pytest.approx(2.0 - per_step)
        assert loop["gflop_per_step"] == fc["ganlab_by_g_noise"]["fresh"]["gflop_per_step"]
    assert set(fc["vs_ganlab"]) == {"baseline", "baseline_glibc_malloc", "fresh", "reuse", "keras", "keras-xla"}
    assert fc["vs_ganlab"]["keras"] == pytest.approx(
        fc["contenders"]["keras"]["seconds_per_epoch"]["median"] / fc["ganlab"]["seconds_per_epoch"]["median"]
    )
    assert "keras-xla: set-up 0.2 s, first step 2.0 s" in result.stderr


def test_bench_rejects_what_the_baseline_cannot_train():
    result = CliRunner().invoke(_app(), ["bench", "ring", "--no-study"])
    assert result.exit_code == 2 and "the tutorial baseline trains the study's MNIST GANs" in result.output
    assert "not dataset ring" in result.output
    with pytest.raises(GanlabError, match=r"not batch norm in G$"):
        bench_presets("fc-batchnorm-g")
    switched = load_preset("fc", ["model.d.pack=2", "train.ema=0.999", "train.label_smoothing=0.1"])
    assert _beyond_the_tutorial(switched) == ["train.label_smoothing=0.1", "train.ema=0.999", "model.d.pack=2"]
    assert _beyond_the_tutorial(load_preset("ttur")) == []  # its learning rates the tutorial loop takes
    result = CliRunner().invoke(_app(), ["bench", "nope", "--no-study"])
    assert result.exit_code == 2 and "unknown preset 'nope'" in result.output
    result = CliRunner().invoke(_app(), ["bench", "fc", "--study-preset", "ring"])  # refused before any timing
    assert result.exit_code == 2 and "study throughput is measured on MNIST presets" in result.output


@pytest.mark.slow
def test_study_throughput_measures_every_packing(one_thread, isolated_data_env):
    from ganlab.bench.runner import bench_data
    from ganlab.bench.study import study_throughput

    configs = [
        load_preset("fc-width-128", [f"train.seed={s}", "model.g.hidden=[32]", "model.d.hidden=[32]"]) for s in range(2)
    ]
    data = bench_data(None)  # random pixels here and in the worker processes
    assert data.source.startswith("random pixels")
    record = study_throughput(configs, data, torch.device("cpu"), steps=2, repeats=1, workers=2)
    assert set(record["strategies"]) == {"naive", "naive-1t", "processes"}
    assert record["steps_per_epoch"] == 469 and record["runs"] == 2 and record["workers"] == 2
    assert all(s["epochs_per_hour"]["median"] > 0 for s in record["strategies"].values())
    assert record["packed"] == "processes" and record["speedup"] == pytest.approx(
        record["packed_epochs_per_hour"] / record["naive_epochs_per_hour"]
    )
