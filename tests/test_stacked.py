"""Stacked MNIST: three digits as channels, 1,000 modes, counted with the evaluator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.data.stacked_mnist import STACKED_MODES, StackedDataset, load_stacked_mnist, stack_digits
from ganlab.errors import GanlabError


def labelled_digits(m=50):
    """Images whose every pixel holds the image's own index, labels = index % 10."""
    images = torch.arange(m, dtype=torch.uint8).reshape(m, 1, 1, 1).expand(m, 1, 28, 28).clone()
    return images, torch.arange(m) % 10


def test_channels_are_drawn_digits_and_labels_encode_them():
    images, labels = labelled_digits()
    data = stack_digits(images, labels, n=400, seed=3)
    assert isinstance(data, StackedDataset) and len(data) == 400
    assert data.images.shape == (400, 3, 28, 28) and data.images.dtype == torch.uint8
    source = data.images[:, :, 0, 0].long()  # (n, 3) index of the drawn digit per channel
    assert torch.equal(data.images, source[:, :, None, None].expand(-1, -1, 28, 28).to(torch.uint8))
    digits = labels[source]
    assert torch.equal(data.labels, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])
    assert data.labels.min() >= 0 and data.labels.max() < STACKED_MODES


def test_seeded_and_covers_all_modes():
    images, labels = labelled_digits()
    a, b = stack_digits(images, labels, 20000, seed=0), stack_digits(images, labels, 20000, seed=0)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.labels, stack_digits(images, labels, 20000, seed=1).labels)
    counts = np.bincount(a.labels.numpy(), minlength=1000)
    assert (counts > 0).sum() == 1000  # 20 expected per mode; P(any empty) < 1e-5


def test_errors():
    images, labels = labelled_digits()
    with pytest.raises(GanlabError, match=r"images: expected shape \(M, 1, H, W\) with M >= 1, got \(50, 28, 28\)"):
        stack_digits(images[:, 0], labels, 5)
    with pytest.raises(GanlabError, match=r"labels: expected shape \(50,\), got \(49,\)"):
        stack_digits(images, labels[:-1], 5)
    with pytest.raises(GanlabError, match=r"n: expected >= 1 stacked images, got 0"):
        stack_digits(images, labels, 0)


@pytest.mark.slow
def test_real_stacked_mnist_modes_match_its_labels(mnist_dir):
    from ganlab.metrics.classes import class_counts, kl_to_prior
    from ganlab.metrics.suite import stacked_mode_scores

    data = load_stacked_mnist("test", n=1500, seed=0, data_dir=mnist_dir)
    counts = class_counts(data.labels.numpy(), STACKED_MODES)
    true_modes, true_kl = int((counts > 0).sum()), kl_to_prior(counts)
    # 1,500 uniform draws of 1,000 modes cover about 1000 (1 - e^-1.5) = 777 of them
    assert 740 < true_modes < 810
    scores = stacked_mode_scores(data.images)
    assert abs(scores["modes_covered"] - true_modes) <= 10  # the evaluator reads ~99% of triples right
    assert scores["mode_kl"] == pytest.approx(true_kl, abs=0.03)
    collapsed = stacked_mode_scores(data.images[data.labels < 100])  # first digit always 0
    assert collapsed["modes_covered"] <= 100 and collapsed["mode_kl"] > 2.0


def test_stacked_scores_reject_single_channel():
    from ganlab.metrics.suite import stacked_mode_scores

    with pytest.raises(GanlabError, match=r"images: expected stacked MNIST of shape \(N, 3, 28, 28\), got \(2, 1, 28, 28\)"):
        stacked_mode_scores(torch.zeros(2, 1, 28, 28))


# --- the stacked-mnist dataset, its presets and its eval (issue 13) ---------------------------

SMALL_DCGAN = ["model.g.filters=[8, 4]", "model.d.filters=[4, 8]", "noise.dim=8", "train.batch_size=16"]


@pytest.fixture
def fake_mnist(monkeypatch: pytest.MonkeyPatch):
    """MNIST as 64 digits whose pixels hold their index, for the stacked loader."""
    from ganlab.data import stacked_mnist
    from ganlab.data.mnist import ImageDataset

    images, labels = labelled_digits(64)
    monkeypatch.setattr(stacked_mnist, "load_mnist", lambda *args, **kwargs: ImageDataset(images, labels))
    return images, labels


def test_stacked_mnist_is_a_registered_3_channel_dataset_drawn_once(fake_mnist):
    from ganlab.config import load_preset
    from ganlab.data.mnist import MNIST_FILE_SET
    from ganlab.data.registry import dataset_spec

    spec = dataset_spec("stacked-mnist")
    assert (spec.shape, spec.num_classes, spec.scorer, spec.files) == ((3, 28, 28), 1000, "stacked", MNIST_FILE_SET)
    x, y = spec.load(load_preset("dcgan-stacked"), "train", None, torch.device("cpu"), False)
    assert x.shape == (64, 3, 28, 28) and x.dtype == torch.uint8
    digits = fake_mnist[1][x[:, :, 0, 0].long()]  # each channel's drawn digit
    assert torch.equal(y, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])
    other_seed = spec.load(load_preset("dcgan-stacked", ["train.seed=5"]), "train", None, torch.device("cpu"), False)
    assert torch.equal(other_seed[0], x)  # the same data for every run


@pytest.mark.parametrize(("preset", "d_channels"), [("dcgan-stacked", 3), ("pacdcgan-stacked", 6)])
def test_stacked_presets_take_a_step_on_colour_images(fake_mnist, one_thread, preset: str, d_channels: int):
    from ganlab.config import load_preset
    from ganlab.train.bundle import build_bundle
    from ganlab.train.loop import dry_run_step

    config = load_preset(preset, SMALL_DCGAN)
    bundle = build_bundle(config, torch.device("cpu"))
    assert bundle.g(torch.randn(4, 8)).shape == (4, 3, 28, 28)
    assert bundle.d.body[0].in_channels == d_channels  # packs of 2 samples: 2 x 3 channels
    losses = dry_run_step(config, device=torch.device("cpu"))
    assert losses and all(np.isfinite(list(losses.values())))


@pytest.mark.usefixtures("isolated_data_env")  # the fake digits' floor must not reach the real cache
def test_eval_of_a_stacked_run_reports_modes_and_kl_to_uniform(fake_mnist, tmp_path, one_thread):
    import json

    from PIL import Image
    from typer.testing import CliRunner

    from ganlab.cli import app

    run = tmp_path / "run"
    args = ["train", "-p", "pacdcgan-stacked", "--out", str(run), "--quiet", "--set", "train.epochs=1"]
    for override in [*SMALL_DCGAN, "train.eval_samples=11", "monitor.sample_size=20"]:
        args += ["--set", override]
    runner = CliRunner()
    trained = runner.invoke(app, args)
    assert trained.exit_code == 0, trained.output
    assert Image.open(run / "samples" / "epoch_001.png").mode == "RGB"
    evaluated = runner.invoke(app, ["eval", str(run), "--n", "20"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "modes_covered" in evaluated.output and "mode_kl" in evaluated.output
    result = json.loads((run / "eval.json").read_text())
    assert result["higher_is_better"] == {"modes_covered": True, "mode_kl": False}
    for scores in (result["metrics"], result["real_floor"]):
        # 20 samples cover at most 20 of the 1,000 modes: KL to uniform >= log(1000 / 20)
        assert 1 <= scores["modes_covered"] <= 20 and scores["mode_kl"] >= np.log(1000 / 20) - 1e-9
    assert len(list((tmp_path / "cache" / "features").glob("*-stacked-floor-n20-seed0.v2.npz"))) == 1
