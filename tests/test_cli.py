"""The command line as a user meets it: exit codes, messages, and nothing written on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ganlab.cli import app

runner = CliRunner()
TINY_RING = ["--preset", "ring", "--set", "train.epochs=1", "--set", "train.ring_size=1024", "--threads", "1"]


@pytest.fixture(autouse=True)
def _keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_presets_list_and_show():
    result = runner.invoke(app, ["presets", "list"])
    assert result.exit_code == 0
    assert "fc-dropout-d-30" in result.output and "conv-g-wide" in result.output
    shown = runner.invoke(app, ["presets", "show", "fc-sgd-d"])
    assert shown.exit_code == 0 and "base: fc-dropout-d-30" in shown.output and "sgd" in shown.output
    missing = runner.invoke(app, ["presets", "show", "nope"])
    assert missing.exit_code == 2 and "unknown preset 'nope'" in missing.output
    typo = runner.invoke(app, ["train", "-p", "fc-dropout-d30", "--dry-run"])
    assert typo.exit_code == 2 and "did you mean 'fc-dropout-d-30'?" in typo.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "model.d.dropout=1.5"], "model.d.dropout"),
        (["--set", "optim.g.lr=-1"], "optim.g.lr"),
        (["--set", "train.epochs=many"], "train.epochs"),
        (["--set", "model.d.dropuot=0.3"], "unknown key"),
        (["--preset", "nope"], "unknown preset"),
    ],
)
def test_bad_config_exits_2_and_writes_nothing(tmp_path: Path, args: list[str], message: str):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_train_sample_and_refuse_to_overwrite(tmp_path: Path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--out", str(out), *TINY_RING])
    assert result.exit_code == 0, result.output
    assert "run complete" in result.output and "health: healthy" in result.output
    assert (out / "weights" / "final.safetensors").is_file()

    again = runner.invoke(app, ["train", "--out", str(out), *TINY_RING])
    assert again.exit_code == 2 and "already holds a run (status: complete)" in again.output

    resumed = runner.invoke(app, ["train", "--resume", str(out)])
    assert resumed.exit_code == 0 and "already complete" in resumed.output

    grid = tmp_path / "grid.png"
    sampled = runner.invoke(app, ["sample", str(out), "--n", "16", "--out", str(grid)])
    assert sampled.exit_code == 0, sampled.output
    assert Image.open(grid).size[0] > 100
    by_default = runner.invoke(app, ["sample", str(out), "--n", "16"])
    assert by_default.exit_code == 0 and f"to {out / 'samples' / 'sample.png'}" in by_default.output
    assert Image.open(out / "samples" / "sample.png").size[0] > 100


def test_sample_grid_of_an_image_run(tmp_path: Path):
    """An MNIST-shaped generator's samples come out as an 8-wide grid (untrained weights suffice)."""
    from ganlab.config import load_preset
    from ganlab.models import build_discriminator, build_generator
    from ganlab.train.checkpoint import save_weights
    from ganlab.rundir import RunDir

    config = load_preset("fc")
    run = RunDir(tmp_path / "run")
    run.create(config)
    save_weights(run.weights("final"), {"g": build_generator(config), "d": build_discriminator(config)})
    grid = tmp_path / "grid.png"
    result = runner.invoke(app, ["sample", str(run.path), "--n", "64", "--out", str(grid), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert Image.open(grid).size == ((8 * 30 + 2) * 2, (8 * 30 + 2) * 2)
    missing = runner.invoke(app, ["sample", str(run.path), "--which", "best", "--out", str(grid)])
    assert missing.exit_code == 2 and "no best weights" in missing.output


def test_dry_run_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", "--dry-run", *TINY_RING])
    assert result.exit_code == 0, result.output
    assert "dry run, one batch: d_loss" in result.output
    assert list(tmp_path.iterdir()) == []


def test_resume_refuses_config_changes(tmp_path: Path):
    out = tmp_path / "run"
    runner.invoke(app, ["train", "--out", str(out), "--quiet", *TINY_RING])
    result = runner.invoke(app, ["train", "--resume", str(out), "--set", "train.epochs=3"])
    assert result.exit_code == 2 and "saved config" in result.output


def test_missing_mnist_is_a_clear_error(tmp_path: Path, isolated_data_env: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["train", "--dry-run", "--data-dir", str(empty)])
    assert result.exit_code == 2
    assert "train-images-idx3-ubyte" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dry-run"], "drop --preset, --set, --config, --out and --dry-run"),
        (["--preset", "fc"], "drop --preset"),
    ],
)
def test_resume_refuses_other_options(tmp_path: Path, args: list[str], message: str):
    out = tmp_path / "run"
    runner.invoke(app, ["train", "--out", str(out), "--quiet", *TINY_RING, "--set", "train.epochs=2"])
    before = (out / "run.json").read_text()
    result = runner.invoke(app, ["train", "--resume", str(out), *args])
    assert result.exit_code == 2 and message in result.output
    assert (out / "run.json").read_text() == before


def test_preset_and_config_together_are_refused(tmp_path: Path):
    config = tmp_path / "c.yaml"
    config.write_text("base: ring\n")
    result = runner.invoke(app, ["train", "--preset", "fc", "--config", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "either --preset or --config" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "device, message",
    [("cuda", "CUDA is not available"), ("gpu0", "not a torch device"), ("meta", "cpu or cuda")],
)
def test_bad_device_is_a_clear_error(tmp_path: Path, device: str, message: str):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = runner.invoke(app, ["train", "--dry-run", "--device", device, *TINY_RING])
    assert result.exit_code == 2 and message in result.output


def test_out_that_is_a_file_is_a_clear_error(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = runner.invoke(app, ["train", "--out", str(blocker / "run"), *TINY_RING])
    # the writer lock (issue 14) meets the blocker first: "cannot write to the run directory ..."
    assert result.exit_code == 2 and f"the run directory {blocker / 'run'}: Not a directory" in result.output


def test_sample_out_that_is_a_directory_is_a_clear_error(tmp_path: Path):
    from ganlab.config import load_preset
    from ganlab.models import build_discriminator, build_generator
    from ganlab.train.checkpoint import save_weights
    from ganlab.rundir import RunDir

    config = load_preset("ring")
    run = RunDir(tmp_path / "run")
    run.create(config)
    save_weights(run.weights("final"), {"g": build_generator(config), "d": build_discriminator(config)})
    result = runner.invoke(app, ["sample", str(run.path), "--out", str(tmp_path)])
    assert result.exit_code == 2 and f"cannot write {tmp_path}" in result.output


def test_a_stale_data_dir_variable_does_not_block_a_ring_run(tmp_path: Path):
    result = runner.invoke(app, ["train", "--dry-run", *TINY_RING], env={"GANLAB_DATA_DIR": str(tmp_path / "gone")})
    assert result.exit_code == 0, result.output
    typo = runner.invoke(app, ["train", "--dry-run", "--data-dir", str(tmp_path / "gone"), *TINY_RING], env={"COLUMNS": "250"})
    assert typo.exit_code == 2 and "does not exist" in typo.output


def test_ctrl_c_says_where_the_run_stopped_and_how_to_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from ganlab.rundir import RunDir
    from ganlab.train.progress import Progress

    out = tmp_path / "run"
    done = Progress.epoch_done

    def stop_after_epoch_1(self, epoch, *args):
        done(self, epoch, *args)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Progress, "epoch_done", stop_after_epoch_1)
        result = runner.invoke(app, ["train", "--out", str(out), *TINY_RING, "--set", "train.epochs=2"])
    assert result.exit_code == 130
    assert "interrupted: epoch 1 (step 4) is saved" in result.output
    assert f"continue with: ganlab train --resume {out}" in result.output
    assert RunDir(out).read_info()["error"].startswith("KeyboardInterrupt")

    resumed = runner.invoke(app, ["train", "--resume", str(out)])
    assert resumed.exit_code == 0, resumed.output
    assert "restarting from step 0" not in resumed.output
    info = RunDir(out).read_info()
    assert info["status"] == "complete" and info["error"] is None


def test_ctrl_c_inside_the_first_epoch_says_the_resume_starts_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from ganlab.train.progress import Progress

    def interrupt(self, *args):
        raise KeyboardInterrupt

    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(Progress, "step", interrupt)
        result = runner.invoke(app, ["train", "--out", str(out), *TINY_RING])
    assert result.exit_code == 130
    assert "no epoch finished, so a resume restarts from step 0" in result.output
    resumed = runner.invoke(app, ["train", "--resume", str(out)])
    assert resumed.exit_code == 0 and "no checkpoint (the run stopped inside its first epoch)" in resumed.output


@pytest.mark.parametrize("command", [["train"], ["eval"], ["study", "run"], ["study", "verdicts"], ["bench"]])
def test_help_names_values_not_python_types(command: list[str]):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    assert "<bool>" not in result.output and "<list[" not in result.output
