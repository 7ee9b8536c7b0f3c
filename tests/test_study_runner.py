"""The study runner: run states read back from directories, resuming, failures, backends, status."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ganlab.cli import app
from ganlab.config import to_yaml
from ganlab.study.launch import Options, ray_submit, worker_command
from ganlab.study.runner import needs_floor, study_lock
from ganlab.study.spec import StudyError, StudyRecord, parse_spec
from ganlab.study.synthetic import fake_run
from ganlab.study.tasks import plan, run_state

HIGHER = {"modes_covered": True, "high_quality": True}


def ring_spec(**changes) -> dict:
    """Two configs, two experiments: ring-b against ring, and the same pair the other way round."""
    data = {
        "name": "ring-mini",
        "description": "a tiny study over the 2-D ring",
        "set": ["train.ring_size=1280", "train.epochs=1"],
        "configs": {"ring-b": {"preset": "ring", "set": ["optim.g.lr=0.0001"]}},
        "metrics": ["modes_covered", "high_quality"],
        "experiments": [
            {"id": 1, "title": "slow G", "control": "ring", "variants": ["ring-b"], "claim": "a slow G is worse", "expected": "worse"},
            {"id": 2, "title": "fast G", "control": "ring-b", "variants": ["ring"], "claim": "a fast G is better", "expected": "better"},
        ],
    }  # fmt: skip
    data.update(changes)
    return data


def record_of(seeds: int = 2, **changes) -> StudyRecord:
    return StudyRecord(spec=parse_spec(ring_spec(**changes), "test"), seeds=seeds, epochs_scale=1.0, eval_n=200)


def test_plan_paths_and_worker_command(tmp_path: Path):
    tasks = plan(tmp_path, record_of())
    assert [(t.name, t.seed) for t in tasks] == [("ring", 0), ("ring", 1), ("ring-b", 0), ("ring-b", 1)]
    assert tasks[3].path == tmp_path / "runs" / "ring-b" / "seed-1"
    command = worker_command(tasks[3], Options(workers=2, threads=3, eval_n=200, data_dir=Path("/data")))
    assert command[:4] == [sys.executable, "-m", "ganlab.api.worker", str(tasks[3].path)]
    joined = " ".join(command)
    assert "--preset ring" in joined and "--set optim.g.lr=0.0001" in joined and "--set train.seed=1" in joined
    assert "--threads 3" in joined and "--eval-n 200" in joined and "--data-dir /data" in joined


def test_the_real_data_floor_is_computed_once_for_runs_the_mnist_evaluator_scores(tmp_path: Path):
    ring_tasks = plan(tmp_path, record_of())
    mnist_tasks = plan(tmp_path, record_of(set=["train.epochs=1"], configs={"ring-b": {"preset": "fc"}}))
    assert not needs_floor(ring_tasks, {})  # the ring's scorer has no real-data floor to compute first
    assert needs_floor(mnist_tasks, {}) and needs_floor(mnist_tasks, {"ring": {}})
    assert not needs_floor(mnist_tasks, {"mnist": {"n": 10000, "metrics": {"fid": 0.5}}})  # an existing floor.json
    assert not needs_floor([], {})


def test_run_states_read_from_the_directory(tmp_path: Path):
    done, failed, stale, partial, running, pending = plan(tmp_path, record_of(seeds=3))[:6]
    fake_run(done.path, done.config, {"modes_covered": 8, "high_quality": 0.9}, HIGHER)
    fake_run(failed.path, failed.config, None, HIGHER, status="failed", error="RuntimeError: boom")
    fake_run(stale.path, stale.config, {"modes_covered": 8, "high_quality": 0.9}, HIGHER)
    (stale.path / "study-run.json").write_text(json.dumps({"state": "done", "preset": "ring", "overrides": ["x=1"]}))
    fake_run(partial.path, partial.config, None, HIGHER, status="interrupted", epochs_done=0)
    fake_run(running.path, running.config, None, HIGHER, status="running", epochs_done=0)
    (running.path / "study-run.json").write_text(
        json.dumps({"state": "running", "pid": os.getpid(), "host": os.uname().nodename})
    )
    states = {t: run_state(t) for t in (done, failed, stale, partial, running, pending)}
    assert [s.state for s in states.values()] == ["done", "failed", "stale", "incomplete", "running", "pending"]
    assert states[failed].detail == "RuntimeError: boom" and states[failed].phase == "train"
    assert "not the study's recipe for this run any more" in states[stale].detail
    # The same recipe is not stale, whatever a newer ganlab writes into config.yaml.
    (stale.path / "study-run.json").write_text(json.dumps({"state": "done", **stale.recipe}))
    (stale.path / "config.yaml").write_text("name: ring\nnew_section: {added: later}\n")
    assert run_state(stale).state == "done"
    # A run that says it is running, but whose process is gone, is just cut short.
    (running.path / "study-run.json").write_text(json.dumps({"state": "running", "pid": 2**22 + 12345, "host": os.uname().nodename}))
    assert run_state(running).state == "incomplete"
    # Trained but not scored: eval is what is left to do.
    (done.path / "eval.json").unlink()
    assert run_state(done).state == "incomplete" and run_state(done).detail == "not scored yet"


def test_ray_backend_without_ray_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(StudyError, match=r"pip install 'ganlab\[ray\]'"):
        ray_submit(Options(workers=2, threads=1, eval_n=200))


def test_one_study_run_per_directory(tmp_path: Path):
    with study_lock(tmp_path):
        with pytest.raises(StudyError, match="another `ganlab study run` is working on"):
            with study_lock(tmp_path):
                pass
    with study_lock(tmp_path):  # released
        pass


def _break_run(study_dir: Path, record: StudyRecord, name: str, seed: int) -> Path:
    """A run cut short whose checkpoint is damaged: resuming it crashes."""
    task = next(t for t in plan(study_dir, record) if (t.name, t.seed) == (name, seed))
    (task.path / "checkpoints").mkdir(parents=True)
    (task.path / "config.yaml").write_text(to_yaml(task.config))
    (task.path / "run.json").write_text(json.dumps({"name": name, "status": "interrupted", "epochs_done": 0}))
    (task.path / "checkpoints" / "last.safetensors").write_bytes(b"this is not a checkpoint")
    return task.path


@pytest.mark.slow
def test_end_to_end_failure_resume_status_and_report(tmp_path: Path):
    """Trains 2 configs x 2 seeds on the ring in worker processes, one run deliberately broken."""
    spec_file, study = tmp_path / "ring-mini.yaml", tmp_path / "study"
    spec_file.write_text(json.dumps(ring_spec()))  # JSON is YAML
    broken = _break_run(study, record_of(), "ring-b", 0)
    runner = CliRunner()
    args = ["study", "run", str(spec_file), "--seeds", "2", "--workers", "2", "--eval-n", "200", "--out", str(study)]

    first = runner.invoke(app, args)
    assert first.exit_code == 1, first.output  # not everything is done
    assert "4 to run" in first.output and "failed ring-b seed-0" in first.output
    assert "3/4 runs done (4 run now, 1 failed)" in first.output
    log = (broken / "log.txt").read_text()
    assert "=== attempt 1" in log and "error:" in log and "=== exit code 2" in log
    marker = json.loads((broken / "study-run.json").read_text())
    assert marker["state"] == "failed" and marker["exit_code"] == 2 and marker["error"]
    good = [study / "runs" / n / f"seed-{s}" for n, s in (("ring", 0), ("ring", 1), ("ring-b", 1))]
    for run in good:
        assert json.loads((run / "run.json").read_text())["status"] == "complete"
        assert set(json.loads((run / "eval.json").read_text())["metrics"]) == {"modes_covered", "high_quality"}
    floor = json.loads((study / "floor.json").read_text())
    assert floor["ring"]["metrics"]["modes_covered"] == 8

    status = runner.invoke(app, ["study", "status", str(study)])
    assert status.exit_code == 0 and "failed" in status.output and "3/4 runs done" in status.output
    assert "health" in status.output and "healthy" in status.output  # the monitors' verdict per run

    report = runner.invoke(app, ["report", str(study)])
    assert report.exit_code == 0, report.output
    html = (study / "report.html").read_text()
    assert 'id="summary"' in html and 'id="failures"' in html and "ring-b seed-0" in html
    assert html.count('class="gif"') == 3  # the broken run has no samples

    # Repair the run: the next study run resumes it alone, and the one after does nothing.
    (broken / "checkpoints" / "last.safetensors").unlink()
    stamps = {run: (run / "eval.json").stat().st_mtime_ns for run in good}
    second = runner.invoke(app, ["study", "run", str(study)])
    assert second.exit_code == 0, second.output
    assert "1 to run" in second.output and "4/4 runs done (1 run now, 0 failed)" in second.output
    assert json.loads((broken / "study-run.json").read_text())["attempt"] == 2
    assert all((run / "eval.json").stat().st_mtime_ns == stamps[run] for run in good)
    third = runner.invoke(app, ["study", "run", str(study)])
    assert third.exit_code == 0 and "0 to run" in third.output and "(0 run now" in third.output


@pytest.mark.slow
def test_ray_backend_runs_a_study(tmp_path: Path):
    """The same worker processes, scheduled as Ray tasks on a local Ray of workers x threads CPUs."""
    pytest.importorskip("ray", reason="the ray backend's extra is not installed: pip install 'ganlab[ray]'")
    spec_file, study = tmp_path / "ring-mini.yaml", tmp_path / "study"
    spec_file.write_text(json.dumps(ring_spec()))
    args = ["study", "run", str(spec_file), "--seeds", "1", "--workers", "2", "--threads", "1"]
    result = CliRunner().invoke(app, args + ["--eval-n", "200", "--out", str(study), "--backend", "ray"])
    assert result.exit_code == 0, result.output
    assert "(ray)" in result.output and "2/2 runs done (2 run now, 0 failed)" in result.output
    for name in ("ring", "ring-b"):
        run = study / "runs" / name / "seed-0"
        assert json.loads((run / "run.json").read_text())["status"] == "complete"
        assert json.loads((run / "eval.json").read_text())["metrics"]["modes_covered"] in range(9)  # of 8 modes


def test_a_killed_worker_leaves_an_interrupted_run_that_resumes(tmp_path: Path):
    from ganlab.study.launch import _finish

    task = plan(tmp_path, record_of())[0]
    task.path.mkdir(parents=True)
    (task.path / "run.json").write_text(json.dumps({"name": "ring", "status": "running", "epochs_done": 1}))
    _finish(task, task.path / "study-run.json", 1, "2026-11-28T00:00:00+00:00", 0.0, -15, "exit code -15")
    assert json.loads((task.path / "run.json").read_text())["status"] == "interrupted"
    assert json.loads((task.path / "study-run.json").read_text())["state"] == "interrupted"
    state = run_state(task)
    assert (state.state, state.detail) == ("incomplete", "cut short")


def test_a_one_seed_study_is_warned_before_anything_runs(tmp_path: Path):
    import yaml

    spec = tmp_path / "ring-mini.yaml"
    spec.write_text(yaml.safe_dump(ring_spec()))
    args = ["study", "run", str(spec), "--out", str(tmp_path / "study"), "--dry-run"]
    one = CliRunner().invoke(app, [*args, "--seeds", "1"], env={"COLUMNS": "200"})
    assert one.exit_code == 0, one.output
    assert "1 seed per config: verdicts need at least 2 (3 recommended)" in one.output
    assert one.output.index("verdicts need") < one.output.index("plan (dry run)")
    two = CliRunner().invoke(app, [*args, "--seeds", "2"], env={"COLUMNS": "200"})
    assert two.exit_code == 0 and "verdicts need" not in two.output
