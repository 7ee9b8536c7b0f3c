"""A study worker's cause of death: killed by a signal or exiting non-zero, the failure the study
records and shows (study-run.json, run.json, `study status`) is the cause and the last error
line of that attempt's log, never its last output line (issue 14)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ganlab.study.launch as launch
from ganlab.cli import app
from ganlab.study.launch import Options, cause_of_death, execute
from ganlab.study.spec import StudyRecord, parse_spec, write_record
from ganlab.study.synthetic import fake_run
from ganlab.study.tasks import plan, run_state

SPEC = {
    "name": "ring-death", "description": "one ring config", "set": ["train.epochs=2"],
    "configs": {"ring-b": {"preset": "ring", "set": ["optim.g.lr=0.0001"]}}, "metrics": ["modes_covered"],
    "experiments": [{"id": 1, "title": "slow G", "control": "ring", "variants": ["ring-b"], "claim": "-", "expected": "worse"}],
}  # fmt: skip

# Stand-ins for the worker: each prints what a training worker prints, then dies its own way.
KILLED = "import os, signal; print('epoch 1/2  d_loss 0.61  g_loss 1.2', flush=True); os.kill(os.getpid(), signal.SIGKILL)"
CRASHED = "print('train: ganlab train --preset ring', flush=True); raise ValueError('boom')"
REFUSED = "import sys; print('error: the run is locked by pid 4242 on host a', flush=True); sys.exit(2)"


@pytest.fixture
def task(tmp_path: Path):
    """The first run of a one-seed study whose study.yaml is written, started as a running run."""
    record = StudyRecord(spec=parse_spec(SPEC, "test"), seeds=1, epochs_scale=1.0, eval_n=200)
    write_record(tmp_path, record)
    first = plan(tmp_path, record)[0]
    fake_run(first.path, first.config, None, {"modes_covered": True}, status="running", epochs_done=1)
    return first


def _run_with(monkeypatch: pytest.MonkeyPatch, task, code: str):
    monkeypatch.setattr(launch, "worker_command", lambda task, options: [sys.executable, "-c", code])
    return execute(task, Options())


def test_cause_of_death_names_the_signal_or_the_exit_code():
    assert cause_of_death(-9) == "killed by signal 9 (SIGKILL)"
    assert cause_of_death(-15) == "killed by signal 15 (SIGTERM)"
    assert cause_of_death(2) == "exit code 2"


def test_a_killed_worker_is_shown_as_killed_not_by_its_last_line(monkeypatch: pytest.MonkeyPatch, task):
    outcome = _run_with(monkeypatch, task, KILLED)
    assert not outcome.ok and outcome.exit_code == -9
    assert outcome.error == "killed by signal 9 (SIGKILL)"  # no "epoch 1/2 ..." progress line
    marker = json.loads((task.path / "study-run.json").read_text())
    assert marker["state"] == "failed" and marker["error"] == "killed by signal 9 (SIGKILL)"
    info = json.loads((task.path / "run.json").read_text())
    assert info["status"] == "failed" and info["error"] == "worker killed by signal 9 (SIGKILL)"
    state = run_state(task)
    assert (state.state, state.detail) == ("failed", "killed by signal 9 (SIGKILL)")
    status = CliRunner().invoke(app, ["study", "status", str(task.path.parents[2])], env={"COLUMNS": "250"})
    assert status.exit_code == 0 and "killed by signal 9 (SIGKILL)" in status.output, status.output
    assert "epoch 1/2" not in status.output


@pytest.mark.parametrize(
    "code, expected",
    [(CRASHED, "exit code 1: ValueError: boom"), (REFUSED, "exit code 2: the run is locked by pid 4242 on host a")],
)
def test_a_failed_worker_gives_its_exit_code_and_this_attempts_last_error(
    monkeypatch: pytest.MonkeyPatch, task, code: str, expected: str
):
    (task.path / "log.txt").write_text("=== attempt 1 ...\nerror: an older attempt's error\n=== exit code 2\n")
    outcome = _run_with(monkeypatch, task, code)
    assert outcome.error == expected
    assert json.loads((task.path / "study-run.json").read_text())["error"] == expected
    assert run_state(task).detail == expected
