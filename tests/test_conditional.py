"""Conditional GANs (issue 13): labels into G and D for the MLP and the DCGAN, a G that learns to
follow its label, sampling by class (API and CLI), one row per class in the sample grids."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ganlab.cli import app
from ganlab.config import ConfigError, load_preset
from ganlab.data.ring import RING, ring_centers, sample_ring_labelled
from ganlab.errors import GanlabError
from ganlab.models import build_discriminator, build_generator
from ganlab.models.conditional import LabelledGenerator, num_labels
from ganlab.rundir import RunDir
from ganlab.train.bundle import build_bundle
from ganlab.train.checkpoint import save_weights
from ganlab.train.epoch import draw_samples
from ganlab.train.sampling import check_class, class_rows, generate
from ganlab.train.step import train_step

CPU = torch.device("cpu")
runner = CliRunner()
NETS = {
    "mlp": ["model.g.hidden=[16]", "model.d.hidden=[16]"],
    "dcgan": ["model.g={kind: dcgan, filters: [8, 4]}", "model.d={kind: dcgan, filters: [4, 8]}"],
}
TINY = ["noise.dim=8"]
CELL = 30  # a 28x28 image and its 2-pixel gap in `image_grid`


@pytest.fixture(autouse=True)
def _keep_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("mode", ["projection", "concat"])
def test_both_networks_read_the_labels(net: str, mode: str):
    torch.manual_seed(0)
    config = load_preset("fc", [*TINY, *NETS[net], f"model.conditional={mode}"])
    g, d = build_generator(config).eval(), build_discriminator(config)
    z = torch.randn(1, 8).repeat(10, 1)
    x = g(z, torch.arange(10))
    assert x.shape == (10, 1, 28, 28)
    assert not torch.allclose(x[0], x[1])  # same z, another class: another image
    same_x = x[:1].repeat(10, 1, 1, 1)
    logits = d(same_x, torch.arange(10))
    assert logits.shape == (10,) and logits.std() > 0  # same image, another class: another logit
    with pytest.raises(ValueError, match="a conditional discriminator needs the class labels y"):
        d(same_x)


def test_g_without_labels_draws_every_class_in_turn():
    torch.manual_seed(0)
    g = build_generator(load_preset("cgan", ["model.g.hidden=[16]", *TINY])).eval()
    z = torch.randn(20, 8)
    assert torch.equal(g(z), g(z, torch.arange(20) % 10))


def test_unconditional_runs_build_the_networks_as_before():
    g = build_generator(load_preset("fc"))
    d = build_discriminator(load_preset("fc"))
    assert not isinstance(g, LabelledGenerator) and type(d).__name__ == "MLPDiscriminator"


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["model.d={kind: conv}"], "model.conditional: the conv discriminator takes no labels; use model.d.kind mlp or"),
        (["model.d.pack=2"], "model.conditional: needs model.d.pack 1"),
    ],
)
def test_configs_a_conditional_d_cannot_take_are_refused(overrides: list[str], message: str):
    with pytest.raises(ConfigError, match=message):
        load_preset("cgan", overrides)


def test_replayed_fakes_without_labels_are_refused():
    with pytest.raises(ConfigError, match="train.replay: replayed fakes keep no labels"):
        build_discriminator(load_preset("cgan", ["train.replay=0.5"]))


def test_a_dataset_without_labels_is_refused():
    with pytest.raises(ConfigError, match="model.conditional: dataset 'ring' has no class labels"):
        num_labels(load_preset("ring", ["model.conditional=projection"]), replace(RING, num_classes=0))


@pytest.mark.parametrize("mode,least,most", [("projection", 0.9, 1.0), ("concat", 0.9, 1.0), ("none", 0.0, 0.4)])
def test_a_conditional_g_learns_to_draw_the_mode_it_is_asked_for(mode: str, least: float, most: float):
    """The ring's 8 modes are its classes: after 300 steps, G(z, k) lands at mode k; an
    unconditional G (the control) lands there by chance, about 1 time in 8."""
    overrides = [f"model.conditional={mode}", "model.g.hidden=[64, 64]", "model.d.hidden=[64, 64]", "noise.dim=4"]
    config = load_preset("ring", overrides)
    torch.manual_seed(0)
    bundle = build_bundle(config, CPU)
    data = torch.Generator().manual_seed(0)
    for _ in range(300):
        train_step(bundle, [sample_ring_labelled(64, data)])
    labels = torch.arange(800) % 8
    g = bundle.g.eval()
    with torch.no_grad():
        x = g(torch.randn(800, 4), labels) if mode != "none" else g(torch.randn(800, 4))
    follows = (torch.cdist(x, ring_centers()).argmin(1) == labels).float().mean().item()
    assert least <= follows <= most


def _untrained_run(path: Path, preset: str, overrides: list[str]) -> Path:
    config = load_preset(preset, overrides)
    run = RunDir(path)
    run.create(config)
    torch.manual_seed(0)
    save_weights(run.weights("final"), {"g": build_generator(config), "d": build_discriminator(config)})
    return run.path


def test_sample_by_class_from_the_cli(tmp_path: Path):
    run = _untrained_run(tmp_path / "cond", "dcgan-cond", [*TINY, *NETS["dcgan"]])
    grid = tmp_path / "grid.png"
    rows = runner.invoke(app, ["sample", str(run), "--n", "64", "--out", str(grid)])
    assert rows.exit_code == 0, rows.output
    assert "wrote 10 classes x 7 samples" in rows.output
    assert Image.open(grid).size == ((7 * CELL + 2) * 2, (10 * CELL + 2) * 2)  # one row per class
    three = runner.invoke(app, ["sample", str(run), "--n", "16", "--class", "3"])
    written = run / "samples" / "sample-class-3.png"
    assert three.exit_code == 0 and f"wrote 16 samples of class 3 to {written}" in three.output
    assert Image.open(run / "samples" / "sample-class-3.png").size == ((8 * CELL + 2) * 2, (2 * CELL + 2) * 2)

    for bad in ("10", "-1"):
        refused = runner.invoke(app, ["sample", str(run), "--class", bad])
        assert refused.exit_code == 2 and f"class {bad}: expected 0..9 (mnist has 10 classes)" in refused.output
        assert len(refused.output.strip().splitlines()) == 1
    plain = _untrained_run(tmp_path / "plain", "fc", [*TINY, *NETS["mlp"]])
    refused = runner.invoke(app, ["sample", str(plain), "--class", "3"])
    assert refused.exit_code == 2 and "run 'fc' is unconditional (model.conditional: none)" in refused.output
    assert len(refused.output.strip().splitlines()) == 1


def test_generate_and_check_class_refuse_what_the_run_cannot_draw():
    plain = load_preset("fc", TINY)
    with pytest.raises(GanlabError, match="is unconditional"):
        check_class(plain, 0)
    with pytest.raises(GanlabError, match="it takes no labels"):
        generate(build_generator(plain), plain, 4, labels=torch.zeros(4, dtype=torch.int64))
    assert check_class(load_preset("cgan"), 9) == 9


def test_class_rows_share_each_column_noise():
    z = torch.randn(3, 5)
    z_grid, labels = class_rows(z, 4)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert torch.equal(z_grid[3:6], z) and torch.equal(z_grid[9:], z)


def test_the_epoch_grid_of_a_conditional_run_has_a_row_per_class():
    torch.manual_seed(0)
    bundle = build_bundle(load_preset("cgan", [*TINY, *NETS["mlp"]]), CPU)
    picture = draw_samples(bundle, torch.randn(64, 8), None, 1)
    assert picture.size == ((8 * CELL + 2) * 2, (10 * CELL + 2) * 2)
    plain = build_bundle(load_preset("fc", [*TINY, *NETS["mlp"]]), CPU)
    assert draw_samples(plain, torch.randn(64, 8), None, 1).size == ((8 * CELL + 2) * 2,) * 2


def test_run_sample_by_label_after_training_a_conditional_ring(tmp_path: Path):
    from ganlab.api import train

    overrides = ["model.conditional=projection", "train.epochs=1", "train.ring_size=19200", "train.batch_size=64"]
    overrides += ["model.g.hidden=[64, 64]", "model.d.hidden=[64, 64]"]
    run = train("ring", overrides=overrides, out=tmp_path / "r", progress="quiet")
    x = run.sample(200, label=5)
    assert x.shape == (200, 2)
    assert (torch.cdist(x, ring_centers()).argmin(1) == 5).float().mean() > 0.9
