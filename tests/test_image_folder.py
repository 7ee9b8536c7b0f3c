"""Your own images (issue 13): the image-folder dataset on folders the tests make, with broken,
non-square and non-image files in them; its cache; training, sampling and eval on it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ganlab.cli import app
from ganlab.config import ConfigError, RunConfig, config_with_overrides, load_preset
from ganlab.data.image_folder import load_folder
from ganlab.data.registry import dataset_spec
from ganlab.data.sources import DataError

pytestmark = pytest.mark.usefixtures("isolated_data_env")
runner = CliRunner()
TINY_MLP = ["model.g.hidden=[16]", "model.d.hidden=[16]", "noise.dim=4", "train.epochs=1", "train.batch_size=4"]
TINY_DCGAN = [
    "model.g={kind: dcgan, filters: [8, 4]}", "model.d={kind: dcgan, filters: [4, 8]}", "noise.dim=4",
    "train.epochs=1", "train.batch_size=4",
]  # fmt: skip


def save(path: Path, width: int = 16, height: int | None = None, value: int = 200, fmt: str = "PNG") -> Path:
    """An image file: a grey square of `value` (RGB for JPEG, to have colour to convert)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "RGB" if fmt == "JPEG" else "L"
    Image.new(mode, (width, height or width), (value,) * 3 if mode == "RGB" else value).save(path, format=fmt)
    return path


def labelled(root: Path) -> Path:
    """cats/: three 16x16 PNGs; dogs/: two 8x8 JPEGs."""
    for i in range(3):
        save(root / "cats" / f"c{i}.png", value=50 + i)
    for i in range(2):
        save(root / "dogs" / f"d{i}.jpg", width=8, fmt="JPEG", value=250)
    return root


def data_config(folder: Path, *overrides: str) -> RunConfig:
    return load_preset("fc", ["data.dataset=folder", f"data.folder={folder}", "data.size=8", *TINY_MLP, *overrides])


def test_labelled_layout_is_resized_converted_and_labelled_by_subfolder(tmp_path: Path) -> None:
    config = data_config(labelled(tmp_path / "pets"))
    found = load_folder(config.data)
    assert found.images.shape == (5, 1, 8, 8) and found.images.dtype == torch.uint8
    assert found.labels.tolist() == [0, 0, 0, 1, 1] and found.classes == ("cats", "dogs")
    assert found.images[0].unique().tolist() == [50] and not found.skipped
    spec = dataset_spec(config.data)
    assert spec.shape == (1, 8, 8) and spec.num_classes == 2
    rgb = load_folder(config_with_overrides(config, ["data.channels=3"]).data)
    assert rgb.images.shape == (5, 3, 8, 8)
    assert torch.equal(rgb.images[0, 0], rgb.images[0, 2])  # a grey image: three equal channels


def test_unlabelled_layout_has_no_classes(tmp_path: Path) -> None:
    for i in range(3):
        save(tmp_path / "faces" / f"{i}.png")
    config = data_config(tmp_path / "faces")
    found = load_folder(config.data)
    assert found.classes == () and found.labels.tolist() == [0, 0, 0]
    assert dataset_spec(config.data).num_classes == 0


def write_bad(kind: str, root: Path) -> tuple[Path, str]:
    """A bad file in a labelled folder, and the reason its message gives."""
    if kind == "truncated":
        path = save(root / "cats" / "broken.png", width=64)
        path.write_bytes(path.read_bytes()[:60])
        return path, "unreadable"
    if kind == "not-an-image":
        (path := root / "cats" / "notes.txt").write_text("hello")
        return path, "not an image by its name"
    if kind == "non-square":
        return save(root / "dogs" / "wide.png", width=12, height=8), "12x8, not square"
    if kind == "dangling-link":
        (path := root / "cats" / "gone.png").symlink_to(root / "nowhere.png")
        return path, "unreadable"
    if kind == "gif-named-png":
        return save(root / "dogs" / "moving.png", fmt="GIF"), "holds GIF, not PNG or JPEG"
    (path := root / "stray.png").write_bytes(b"")
    return path, "a file beside the class folders"


KINDS = ["truncated", "not-an-image", "non-square", "dangling-link", "gif-named-png", "stray"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_file_is_an_error_naming_it(tmp_path: Path, kind: str) -> None:
    root = labelled(tmp_path / "pets")
    path, why = write_bad(kind, root)
    with pytest.raises(DataError, match=rf"1 of 6 files in .*: {path}: {why}.*data.skip_bad=true"):
        load_folder(data_config(root).data)


def test_skip_bad_skips_and_counts_every_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = labelled(tmp_path / "pets")
    bad = sorted(str(write_bad(kind, root)[0].relative_to(root)) for kind in KINDS)
    found = load_folder(data_config(root, "data.skip_bad=true").data, progress=True)
    assert len(found.images) == 5 and sorted(file for file, _ in found.skipped) == bad
    assert "skipped 6 bad files (data.skip_bad)" in capsys.readouterr().err
    again = load_folder(data_config(root, "data.skip_bad=true").data)
    assert again.cached and again.skipped == found.skipped  # the count survives the cache


def test_the_cache_is_reused_and_rebuilt_when_a_file_changes(tmp_path: Path) -> None:
    root = labelled(tmp_path / "pets")
    data = data_config(root).data
    first = load_folder(data)
    second = load_folder(data)
    assert not first.cached and second.cached and torch.equal(first.images, second.images)
    changed = save(root / "cats" / "c0.png", value=99)
    os.utime(changed, ns=(1, 1))  # a new mtime even on a coarse clock
    third = load_folder(data)
    assert not third.cached and third.images[0].unique().tolist() == [99]
    save(root / "cats" / "c9.png")
    assert len(load_folder(data).images) == 6


def test_a_damaged_cache_is_refused_naming_the_file(tmp_path: Path, isolated_data_env: Path) -> None:
    data = data_config(labelled(tmp_path / "pets")).data
    load_folder(data)
    (path,) = (isolated_data_env / "folders").glob("*.safetensors")
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF  # a flipped bit in the last label's bytes
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=rf"cache file {path} is damaged \(its tensors do not match.*delete it"):
        load_folder(data)
    path.write_bytes(bytes(raw[:20]))
    with pytest.raises(DataError, match=rf"cache file {path} is damaged"):
        load_folder(data)
    path.unlink()
    assert not load_folder(data).cached


def test_missing_or_empty_folders_and_misplaced_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=rf"data.folder: {tmp_path / 'none'} does not exist"):
        dataset_spec(data_config(tmp_path / "none").data)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="is empty; put PNG or JPEG files in it"):
        dataset_spec(data_config(tmp_path / "empty").data)
    (tmp_path / "pets" / "cats").mkdir(parents=True)
    save(tmp_path / "pets" / "dogs" / "d.png")
    with pytest.raises(DataError, match=rf"class folder {tmp_path / 'pets' / 'cats'} is empty"):
        load_folder(data_config(tmp_path / "pets").data)
    with pytest.raises(ConfigError, match="data.folder: the folder dataset needs a folder of images"):
        dataset_spec(load_preset("fc", ["data.dataset=folder"]).data)
    with pytest.raises(ConfigError, match="data.channels, data.size: only the image folder dataset reads them"):
        dataset_spec(load_preset("fc", ["data.channels=3", "data.size=32"]).data)
    result = runner.invoke(app, ["train", "--set", "data.dataset=folder", "--set", f"data.folder={tmp_path / 'none'}"])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not Path("runs").exists() or not any(Path("runs").glob("fc-*"))


@pytest.mark.parametrize(
    ("overrides", "shape"),
    [([], (1, 8, 8)), (["data.channels=3", *TINY_DCGAN, "model.conditional=projection"], (3, 8, 8))],
    ids=["mlp-grey", "dcgan-rgb-conditional"],
)
def test_train_sample_and_eval_on_a_folder(tmp_path: Path, one_thread, overrides: list[str], shape: tuple) -> None:
    root = labelled(tmp_path / "pets")
    args = ["--set", "data.dataset=folder", "--set", f"data.folder={root}", "--set", "data.size=8"]
    for override in [*TINY_MLP, *overrides, "monitor.sample_size=20", "train.eval_samples=11"]:
        args += ["--set", override]
    run = tmp_path / "run"
    trained = runner.invoke(app, ["train", *args, "--out", str(run), "--quiet"])
    assert trained.exit_code == 0, trained.output
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records and not [r for r in records if r["kind"] == "eval"]  # nothing to score, so no empty records
    from ganlab.api import load_run

    samples = load_run(run).sample(6)
    assert samples.shape == (6, *shape) and 0 <= samples.min() and samples.max() <= 1
    assert Image.open(run / "samples" / "epoch_001.png").mode == ("L" if shape[0] == 1 else "RGB")
    evaluated = runner.invoke(app, ["eval", str(run), "--n", "20"])
    assert evaluated.exit_code == 0, evaluated.output
    said = " ".join(evaluated.output.split())
    assert "no metrics for images of your own" in said and "Inception-v3" in said and "offline only" in said
    assert not (run / "eval.json").exists()


def test_every_pixel_value_survives_when_no_resize_is_needed(tmp_path: Path) -> None:
    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8)
    (tmp_path / "grey").mkdir()
    Image.fromarray(pixels).save(tmp_path / "grey" / "g.png")
    found = load_folder(data_config(tmp_path / "grey").data)
    assert np.array_equal(found.images[0, 0].numpy(), pixels)
