"""Run directories written before the core redesign (by ganlab at commit 2a06bce, in
tests/fixtures/runs-0.1-pre-redesign) still resume, sample, evaluate and report, and a resumed
old run ends bit-identical to the same run trained from scratch now."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ganlab import api
from ganlab.cli import app
from ganlab.models import build_discriminator, build_generator
from ganlab.train.checkpoint import load_weights

FIXTURES = Path(__file__).parent / "fixtures" / "runs-0.1-pre-redesign"


@pytest.fixture
def old_runs(tmp_path: Path) -> Path:
    """A writable copy of the old run directories (the fixtures stay untouched)."""
    return Path(shutil.copytree(FIXTURES, tmp_path / "old"))


def _weights(run: Path) -> list[torch.Tensor]:
    config = api.load_run(run).config
    g, d = build_generator(config), build_discriminator(config)
    load_weights(run / "weights" / "final.safetensors", {"g": g, "d": d})
    return [*g.state_dict().values(), *d.state_dict().values()]


def test_an_old_killed_run_resumes_to_what_a_fresh_run_gives(old_runs: Path, tmp_path: Path, one_thread):
    killed = old_runs / "ring-interrupted"  # killed with kill -9 in epoch 2 of 3
    run = api.resume(killed, progress="quiet", device="cpu")
    assert run.info["status"] == "complete" and run.info["epochs_done"] == 3
    fresh = api.train(run.config, tmp_path / "fresh", progress="quiet", device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(_weights(killed), _weights(fresh.path)))
    assert (killed / "metrics.jsonl").read_bytes() == (fresh.path / "metrics.jsonl").read_bytes()


def test_an_old_run_samples_evaluates_and_reports(old_runs: Path):
    run = api.load_run(old_runs / "ring-complete")
    assert run.sample(16).shape == (16, 2)
    assert set(run.evaluate(n=500, device="cpu")["metrics"]) == {"modes_covered", "high_quality"}
    runner = CliRunner()
    for args in (["sample", str(run.path), "--out", str(run.path / "grid.png")], ["report", str(run.path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert (run.path / "grid.png").is_file() and (run.path / "report.html").is_file()
