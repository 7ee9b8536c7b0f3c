"""Training that learns, is reproducible, and survives a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganlab.config import load_preset
from ganlab.data.mnist import load_mnist
from ganlab.data.ring import ring_mode_stats
from ganlab.data.scaling import scale
from ganlab.train.sampling import generate, load_generator
from ganlab.api import resume, train
from ganlab.rundir import RunDir

SMALL_RING = ["train.epochs=3", "train.ring_size=5120"]



def test_run_directory_has_everything(tmp_path: Path, one_thread):
    run = train(load_preset("ring", SMALL_RING), tmp_path / "run", progress="quiet")
    info = json.loads((run.path / "run.json").read_text())
    assert info["status"] == "complete" and info["epochs_done"] == 3 and info["steps"] == 60
    assert len(info["seconds_per_epoch"]) == 3 and "torch" in info["versions"]
    assert info["health"] == "healthy" and info["events"] == [] and info["final_weights"] == "last"
    records = list(run.read_metrics())
    epochs = [r for r in records if r["kind"] == "epoch"]
    steps = [r for r in records if r["kind"] == "step"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3] and len(steps) == 60
    assert set(steps[0]) >= {"d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"}
    assert sorted(p.name for p in run.samples.iterdir()) == ["epoch_001.png", "epoch_002.png", "epoch_003.png"]
    assert (run.plots / "losses.png").stat().st_size > 1000
    assert set(load_file(run.weights("final"))) >= {"g.body.0.weight", "d.head.bias"}
    assert (run.path / "config.yaml").read_text().startswith("name: ring")


def test_same_seed_gives_bit_identical_weights(tmp_path: Path, one_thread):
    a = train(load_preset("ring", SMALL_RING), tmp_path / "a", progress="quiet")
    b = train(load_preset("ring", SMALL_RING), tmp_path / "b", progress="quiet")
    c = train(load_preset("ring", SMALL_RING + ["train.seed=1"]), tmp_path / "c", progress="quiet")
    wa, wb, wc = (load_file(r.weights("final")) for r in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not torch.equal(wa["g.head.weight"], wc["g.head.weight"])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ganlab.cli", "train", "--threads", "1", "--quiet", *args]


def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path: Path):
    config = ["--preset", "ring", "--set", "train.epochs=6", "--set", "train.ring_size=25600"]
    subprocess.run(_cli(*config, "--out", str(tmp_path / "whole")), check=True, timeout=300)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(*config, "--out", str(killed)))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            info = json.loads((killed / "run.json").read_text()) if (killed / "run.json").exists() else {}
            if info.get("epochs_done", 0) >= 2:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    info = RunDir(killed).read_info()
    assert info["status"] == "running" and 2 <= info["epochs_done"] < 6, "the kill did not land mid-run"

    subprocess.run(_cli("--resume", str(killed)), check=True, timeout=300)
    whole, resumed = load_file(tmp_path / "whole/weights/final.safetensors"), load_file(killed / "weights/final.safetensors")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    records = list(RunDir(killed).read_metrics())
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [1, 2, 3, 4, 5, 6]
    assert RunDir(killed).read_info()["status"] == "complete"


def test_ring_training_covers_most_modes(tmp_path: Path, one_thread):
    start = time.perf_counter()
    run = train(load_preset("ring"), tmp_path / "ring", progress="quiet")
    seconds = time.perf_counter() - start
    g, config = load_generator(run.path)
    stats = ring_mode_stats(generate(g, config, 2000))
    assert stats["modes_covered"] >= 6, f"{stats} after {seconds:.1f}s"


@pytest.mark.slow
def test_mnist_samples_move_towards_real_digits(tmp_path: Path, mnist_dir: Path):
    """One epoch (469 steps) of the study's baseline closes most of the gap to real digits.

    The gap is the mean distance from a sample to its nearest training image, less the same
    distance for real test images (about 4.7 in pixel units on [0, 1]).
    """
    config = load_preset("fc", ["train.epochs=1", "train.eval_every=0"])
    train_images = scale(load_mnist("train", data_dir=mnist_dir).images[:10000], "unit").flatten(1)
    test_images = scale(load_mnist("test", data_dir=mnist_dir).images[:500], "unit")

    def nearest_distance(images: torch.Tensor) -> float:
        return torch.cdist(images.flatten(1), train_images).min(dim=1).values.mean().item()

    from ganlab.models import build_generator
    from ganlab.train.rng import seed_everything

    seed_everything(config.train.seed)
    before = nearest_distance(generate(build_generator(config).eval(), config, 500))
    run = train(config, tmp_path / "fc", data_dir=mnist_dir, progress="quiet")
    g, _ = load_generator(run.path)
    after = nearest_distance(generate(g, config, 500))
    floor = nearest_distance(test_images)
    assert after - floor < (before - floor) / 2, f"distance {before:.2f} -> {after:.2f}, real {floor:.2f}"


def test_a_kill_between_checkpoint_and_best_copy_is_repaired_on_resume(tmp_path: Path):
    """The last checkpoint says its epoch is the best; best.safetensors is an older epoch's."""
    from ganlab.models import build_discriminator, build_generator
    from ganlab.train.checkpoint import checkpoint_epoch, save_checkpoint
    from ganlab.train.epoch import restore_best

    config = load_preset("ring")
    run = RunDir(tmp_path / "run")
    run.create(config)
    modules = {"g": build_generator(config), "d": build_discriminator(config)}
    best = {"epoch": 3, "metric": "modes_covered", "value": 8.0}
    save_checkpoint(run.best_checkpoint, modules, {}, {}, {"epoch": 2, "best": None})
    info = {"epoch": 3, "best": best}
    save_checkpoint(run.checkpoint, modules, {}, {}, info)
    restore_best(run, info)
    assert checkpoint_epoch(run.best_checkpoint) == 3 and run.read_info()["best"] == best

    older = {"epoch": 4, "best": best}  # epoch 4 was no better: best.safetensors stays epoch 3's
    save_checkpoint(run.checkpoint, modules, {}, {}, older)
    restore_best(run, older)
    assert checkpoint_epoch(run.best_checkpoint) == 3


def test_a_kill_before_the_best_copy_counts_that_epoch_as_best(tmp_path: Path, monkeypatch, one_thread):
    """Killed after epoch 2's checkpoint, which was the best so far, before best.safetensors was
    replaced: the resumed run makes epoch 2 the best, in the file and in run.json."""
    from ganlab.train import epoch as epoch_work
    from ganlab.train.checkpoint import checkpoint_epoch

    config = load_preset("ring", ["train.epochs=3", "train.ring_size=1024", "train.eval_every=1"])
    copies = []

    def copy_then_die(source, target):
        copies.append(target)
        if len(copies) == 2:
            raise KeyboardInterrupt
        epoch_work.atomic_copy.__wrapped__(source, target)

    copy_then_die.__wrapped__ = epoch_work.atomic_copy
    monkeypatch.setattr(epoch_work, "is_better", lambda *args: True)  # every epoch a new best
    monkeypatch.setattr(epoch_work, "atomic_copy", copy_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", progress="quiet")
    run = RunDir(tmp_path / "run")
    assert checkpoint_epoch(run.best_checkpoint) == 1 and checkpoint_epoch(run.checkpoint) == 2

    monkeypatch.undo()
    monkeypatch.setattr(epoch_work, "is_better", lambda *args: False)  # epoch 3 is no better
    resume(run.path, progress="quiet")
    assert checkpoint_epoch(run.best_checkpoint) == 2 and run.read_info()["best"]["epoch"] == 2
