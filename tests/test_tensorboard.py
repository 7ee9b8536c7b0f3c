"""TensorBoard mirrors metrics.jsonl, samples and events, and a resumed run logs no step twice."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ganlab.config import load_preset, to_yaml
from ganlab.errors import GanlabError
from ganlab.rundir import RunDir
from ganlab.train.tensorboard import TensorBoardLog
from ganlab.api import resume, train

RING = ["train.ring_size=1024", "train.eval_every=1", "train.tensorboard=true"]


def _read(log_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def test_scalars_images_and_resume(tmp_path: Path, one_thread):
    pytest.importorskip("tensorboard")
    run = train(load_preset("ring", [*RING, "train.epochs=2"]), tmp_path / "run", progress="quiet")
    log = _read(run.path / "tensorboard")
    assert {"step/d_loss", "epoch/d_loss", "eval/modes_covered", "epoch/d_real"} <= set(log.Tags()["scalars"])
    steps = [e.step for e in log.Scalars("epoch/d_loss")]
    assert steps == [record["step"] for record in run.read_metrics() if record["kind"] == "epoch"]
    assert len(log.Images("samples")) == 2

    # One more epoch on resume (the test lengthens the saved run): steps go on, none repeats.
    run.config_path.write_text(to_yaml(load_preset("ring", [*RING, "train.epochs=3"])))
    RunDir(run.path).update_info(status="running")
    resume(run.path, progress="quiet", config_change=True)
    steps = [e.step for e in _read(run.path / "tensorboard").Scalars("epoch/d_loss")]
    assert len(steps) == 3 and steps == sorted(set(steps))


def test_missing_package_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    with pytest.raises(GanlabError, match=r"pip install 'ganlab\[tensorboard\]'"):
        TensorBoardLog(tmp_path / "tb")


def test_a_resumed_log_drops_what_the_killed_run_wrote_after_its_checkpoint(tmp_path: Path):
    pytest.importorskip("tensorboard")
    from PIL import Image

    picture = Image.new("L", (4, 4))
    killed = TensorBoardLog(tmp_path / "tb")
    killed.write([{"kind": "step", "step": s, "d_loss": 1.0} for s in range(1, 11)], picture, 10, [])
    killed.close()  # the checkpoint was at step 5; steps 6-10 are written again below
    resumed = TensorBoardLog(tmp_path / "tb", resumed_step=5)
    resumed.write([{"kind": "step", "step": s, "d_loss": 2.0} for s in range(6, 9)], picture, 8, [])
    resumed.close()
    scalars = _read(tmp_path / "tb").Scalars("step/d_loss")
    assert [(e.step, e.value) for e in scalars] == [(s, 1.0) for s in range(1, 6)] + [(s, 2.0) for s in range(6, 9)]


def test_a_run_killed_before_its_first_checkpoint_logs_no_step_twice(tmp_path: Path, monkeypatch, one_thread):
    pytest.importorskip("tensorboard")
    from ganlab.train import epoch as epoch_work

    def die(*args, **kwargs):
        raise KeyboardInterrupt  # after epoch 1 was logged, before its checkpoint

    monkeypatch.setattr(epoch_work, "save_checkpoint", die)
    with pytest.raises(KeyboardInterrupt):
        train(load_preset("ring", [*RING, "train.epochs=2"]), tmp_path / "run", progress="quiet")
    monkeypatch.undo()
    run = resume(tmp_path / "run", progress="quiet")
    steps = [e.step for e in _read(run.path / "tensorboard").Scalars("epoch/d_loss")]
    assert steps == [record["step"] for record in run.read_metrics() if record["kind"] == "epoch"]
    assert len(steps) == 2


def test_missing_package_fails_before_the_run_directory_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(GanlabError, match="tensorboard"):
        train(load_preset("ring", [*RING, "train.epochs=1"]), tmp_path / "run", progress="quiet")
    assert not (tmp_path / "run").exists()
