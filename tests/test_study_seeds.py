"""Adding seeds to a finished study: `ganlab study run DIR --seeds N` runs only the new seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ganlab.cli import app

SPEC = {
    "name": "ring-seeds",
    "set": ["train.ring_size=1280", "train.epochs=1"],
    "configs": {"ring-b": {"preset": "ring", "set": ["optim.g.lr=0.0001"]}},
    "metrics": ["modes_covered", "high_quality"],
    "experiments": [{"id": 1, "control": "ring", "variants": ["ring-b"], "claim": "a slow G is worse", "expected": "worse"}],
}


@pytest.mark.slow
def test_more_seeds_run_only_the_new_runs(tmp_path: Path):
    spec_file, study = tmp_path / "ring-seeds.yaml", tmp_path / "study"
    spec_file.write_text(json.dumps(SPEC))  # JSON is YAML
    runner = CliRunner()
    common = ["--workers", "2", "--threads", "1"]
    first = runner.invoke(app, ["study", "run", str(spec_file), "--seeds", "1", "--eval-n", "200", "--out", str(study), *common])
    assert first.exit_code == 0, first.output
    old = [study / "runs" / name / "seed-0" for name in ("ring", "ring-b")]
    stamps = {run: (run / "eval.json").stat().st_mtime_ns for run in old}

    dry = runner.invoke(app, ["study", "run", str(study), "--seeds", "2", "--dry-run"], env={"COLUMNS": "200"})
    assert "adding seed 1 to the study's 1: its finished runs are kept" in dry.output and "2 to run" in dry.output
    more = runner.invoke(app, ["study", "run", str(study), "--seeds", "2", *common])
    assert more.exit_code == 0, more.output
    assert "2 to run" in more.output and "4/4 runs done (2 run now, 0 failed)" in more.output
    assert all((run / "eval.json").stat().st_mtime_ns == stamps[run] for run in old)  # not redone
    for name in ("ring", "ring-b"):
        info = json.loads((study / "runs" / name / "seed-1" / "run.json").read_text())
        assert info["status"] == "complete" and "trend" in info
    assert "seeds: 2" in (study / "study.yaml").read_text()
    # Resuming without --seeds keeps the 2; fewer seeds are refused, naming what to do.
    assert "0 to run" in runner.invoke(app, ["study", "run", str(study), "--dry-run"]).output
    fewer = runner.invoke(app, ["study", "run", str(study), "--seeds", "1"])
    assert fewer.exit_code == 2 and "has 2 seeds, got --seeds 1: seeds are only added" in fewer.stderr
