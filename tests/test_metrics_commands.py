"""`ganlab eval` through CliRunner, with a stand-in generator that emits noisy real digits."""

from __future__ import annotations

import functools
import json
from types import SimpleNamespace

import pytest
import torch
from typer import Typer
from typer.testing import CliRunner

from ganlab.cli import metrics as commands
from ganlab.metrics import suite as suite_module
from ganlab.metrics.suite import ALL_METRICS

runner = CliRunner()
app = Typer()
app.command("eval")(commands.eval_command)
app.command("noop")(lambda: None)  # a second command, so that `eval` is a subcommand as in ganlab


@pytest.fixture
def small_suite(monkeypatch, mnist_dir, tmp_path_factory):
    # The sizes and cache folder of test_metrics_suite.py, so that the reference is extracted once.
    cache = tmp_path_factory.getbasetemp() / "metrics-features"
    cache.mkdir(exist_ok=True)
    small = functools.partial(
        suite_module.MetricSuite, n_real=2000, n_train=3000, kid_subsets=10, kid_subset_size=300, cache_dir=cache
    )
    monkeypatch.setattr(suite_module, "MetricSuite", small)
    return mnist_dir


@pytest.fixture
def fake_run(tmp_path, monkeypatch, mnist_dir):
    from ganlab.data.mnist import load_mnist
    from ganlab.api import run as sampling  # where `ganlab eval` looks up the generator

    images = load_mnist("test", mnist_dir).images[5000:].float() / 255
    config = SimpleNamespace(data=SimpleNamespace(dataset="mnist"))

    def fake_load(run_dir, which="final", device="cpu"):
        return "G", config

    def fake_generate(g, config, n, seed=0, device="cpu"):
        noise = torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
        return (images[:n] + 0.1 * noise).clamp(0, 1)

    monkeypatch.setattr(sampling, "load_generator", fake_load)
    monkeypatch.setattr(sampling, "generate", fake_generate)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    return run_dir


@pytest.mark.slow
def test_eval_writes_json_and_prints_floor(small_suite, fake_run):
    result = runner.invoke(app, ["eval", str(fake_run), "--n", "500", "--data-dir", str(small_suite)])
    assert result.exit_code == 0, result.output
    written = json.loads((fake_run / "eval.json").read_text())
    assert set(written["metrics"]) == set(ALL_METRICS) == set(written["real_floor"])
    assert written["n"] == 500 and written["which"] == "final"
    assert written["higher_is_better"]["fid"] is False and written["higher_is_better"]["memorisation"] is None
    assert written["metrics"]["fid"] > written["real_floor"]["fid"]  # noisy digits vs clean ones
    assert "real floor" in result.output and "500 MNIST training images scored against the test set" in result.output.replace("\n", " ")
    assert "fid" in result.output and "↓" in result.output and "↑" in result.output


def test_eval_real_prints_floor_only(small_suite):
    result = runner.invoke(app, ["eval", "--real", "--n", "500", "--data-dir", str(small_suite)])
    assert result.exit_code == 0, result.output
    assert "MNIST real-data floor" in result.output and "classifier_score" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "error: missing RUN_DIR (or pass --real for the real-data floor)"),
        (["RUN", "--real"], "error: give either RUN_DIR or --real, not both"),
    ],
)
def test_eval_usage_errors_exit_2(tmp_path, args, message):
    args = [str(tmp_path) if a == "RUN" else a for a in args]
    result = runner.invoke(app, ["eval", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_eval_options_have_help():
    result = runner.invoke(app, ["eval", "--help"])
    assert result.exit_code == 0
    for option in ("--n", "--data-dir", "--which", "--real", "--seed", "--device", "--threads"):
        assert option in result.output


def test_eval_ring_run_reports_modes(tmp_path, monkeypatch):
    from ganlab.data.ring import sample_ring
    from ganlab.api import run as sampling  # where `ganlab eval` looks up the generator

    config = SimpleNamespace(data=SimpleNamespace(dataset="ring"))
    monkeypatch.setattr(sampling, "load_generator", lambda run_dir, which="final", device="cpu": ("G", config))

    def upper_half(g, c, n, seed=0, device="cpu"):  # a generator stuck on the modes above the x axis
        points = sample_ring(4 * n, generator=torch.Generator().manual_seed(seed))
        return points[points[:, 1] > 0.1][:n]

    monkeypatch.setattr(sampling, "generate", upper_half)
    result = runner.invoke(app, ["eval", str(tmp_path), "--n", "400"])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "eval.json").read_text())
    assert written["metrics"]["modes_covered"] == 3.0  # the modes at 45, 90 and 135 degrees
    # within 3 sigma of a 2-D Gaussian: 1 - exp(-9/2) = 0.989
    assert written["metrics"]["high_quality"] == pytest.approx(0.989, abs=0.025)
    assert written["real_floor"] == {"modes_covered": 8.0, "high_quality": pytest.approx(0.989, abs=0.025)}
    assert written["evaluator_sha256"] is None


def test_the_first_eval_shows_the_reference_build_and_a_cached_one_does_not(monkeypatch, mnist_dir, tmp_path):
    small = functools.partial(
        suite_module.MetricSuite, n_real=500, n_train=1000, kid_subsets=5, kid_subset_size=100, cache_dir=tmp_path
    )
    monkeypatch.setattr(suite_module, "MetricSuite", small)
    args = ["eval", "--real", "--n", "200", "--data-dir", str(mnist_dir), "--threads", "1"]
    first = runner.invoke(app, args, env={"COLUMNS": "150"})
    assert first.exit_code == 0, first.output
    assert "building the cached reference arrays (once)" in first.output
    for what in ("features of MNIST test images 0..500", "features of MNIST train images 0..1000", "k-NN radii"):
        assert f"building {what}" in first.output
    again = runner.invoke(app, args, env={"COLUMNS": "150"})
    assert again.exit_code == 0 and "building" not in again.output
