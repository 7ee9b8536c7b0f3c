"""Time before you start: the study's plan timed on this machine (`ganlab.bench.estimate`), the
dry run's estimate and the ETA of `study run`'s progress bar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ganlab.bench.estimate import (
    Timings, architecture_key, duration, estimate_run, eta, evaluations, makespan, time_plan,
)  # fmt: skip
from ganlab.cli import app
from ganlab.config import load_preset


def test_configs_that_differ_only_in_length_seed_or_rate_share_one_timing():
    fc = architecture_key(load_preset("fc"))
    assert architecture_key(load_preset("fc-epochs-300", ["train.seed=2"])) == fc
    assert architecture_key(load_preset("fc", ["optim.d.lr=0.001", "train.eval_every=0"])) == fc
    assert architecture_key(load_preset("conv-g")) != fc and architecture_key(load_preset("fc-width-128")) != fc


def test_runs_are_packed_longest_first_onto_the_workers():
    assert makespan([10, 10, 10, 10], 2) == 20
    assert makespan([30, 10, 10, 10], 2) == 30  # the long run on one worker, the rest on the other
    assert makespan([5, 4, 3], 1) == 12 and makespan([], 3) == 0


def test_a_run_costs_its_remaining_steps_and_evaluations():
    config = load_preset("fc", ["train.epochs=10", "train.eval_every=3"])
    assert evaluations(config, 0) == 4 and evaluations(config, 6) == 2  # epochs 3, 6, 9 and 10
    timings = Timings(step={architecture_key(config): 0.05}, steps_per_epoch={"mnist": 469}, evaluation={"mnist": 2.0})
    run = estimate_run(config, 6, 10000, timings)  # 4 epochs left
    assert run.train == pytest.approx(4 * 469 * 0.05) and run.evaluations == pytest.approx(4.0)
    assert run.final == pytest.approx(2.0 * 10000 / config.train.eval_samples)


def test_the_eta_follows_this_sessions_pace():
    assert eta(elapsed=100, done=30, done_at_start=10, total=110) == pytest.approx(400)  # 20 units per 100 s, 80 left
    assert eta(elapsed=5, done=10, done_at_start=10, total=110) is None  # nothing done yet: no pace
    assert duration(45) == "45 s" and duration(600) == "10 min" and duration(3 * 3600 + 300) == "3 h 05 min"


def test_timing_a_ring_plan_measures_each_architecture_once():
    import torch

    configs = [load_preset("ring", ["train.ring_size=1024", f"train.seed={s}"]) for s in range(3)]
    configs.append(load_preset("ring", ["train.ring_size=1024", "model.g.hidden=[512, 512]"]))
    timings = time_plan(configs, None, torch.device("cpu"), threads=1, steps=2)
    assert len(timings.step) == 2 and all(s > 0 for s in timings.step.values())
    assert timings.steps_per_epoch == {"ring": 4}  # 1024 points in batches of 256


def test_the_dry_run_estimates_the_wall_time(tmp_path: Path):
    spec = {
        "name": "ring-time", "set": ["train.ring_size=1024", "train.epochs=2", "train.eval_every=1"],
        "configs": {"ring-b": {"preset": "ring", "set": ["optim.g.lr=0.0001"]}}, "metrics": ["modes_covered"],
        "experiments": [{"id": 1, "control": "ring", "variants": ["ring-b"], "claim": "slower", "expected": "worse"}],
    }  # fmt: skip
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    args = ["study", "run", str(tmp_path / "spec.yaml"), "--seeds", "2", "--out", str(tmp_path / "s"), "--dry-run"]
    result = CliRunner().invoke(app, [*args, "--workers", "2", "--threads", "1"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "est." in result.output and "estimated wall time on this machine: " in result.output
    assert "2 x 1-thread workers" in result.output and "timed now on 1 architectures" in result.output
    assert not (tmp_path / "s").exists()  # a dry run writes nothing
