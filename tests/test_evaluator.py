"""The committed evaluator: SHA-256 pinned, accuracy on real MNIST, recipe and CLI."""

from __future__ import annotations

import re
import shutil

import pytest
import torch
from typer.testing import CliRunner

from ganlab.errors import GanlabError
from ganlab.cli import metrics as commands
from ganlab.metrics.evaluator import (
    EVALUATOR_SHA256,
    FEATURE_DIM,
    MODEL_CARD_PATH,
    WEIGHTS_PATH,
    MnistEvaluator,
    load_evaluator,
    sha256_file,
)
from ganlab.metrics.train_evaluator import Recipe, accuracy, train_evaluator

runner = CliRunner()


def test_committed_weights_match_the_pinned_sha256_and_card():
    assert re.fullmatch(r"[0-9a-f]{64}", EVALUATOR_SHA256)
    assert sha256_file(WEIGHTS_PATH) == EVALUATOR_SHA256
    assert WEIGHTS_PATH.stat().st_size < 2_000_000
    card = MODEL_CARD_PATH.read_text()
    assert EVALUATOR_SHA256 in card
    assert "ganlab evaluator train" in card


def test_loaded_evaluator_shapes():
    model = load_evaluator()
    assert not model.training
    x = torch.rand(4, 1, 28, 28)
    features, logits = model.features_and_logits(x)
    assert features.shape == (4, FEATURE_DIM) and logits.shape == (4, 10)
    assert torch.allclose(model(x), logits)


def test_loader_refuses_changed_or_missing_weights(tmp_path):
    changed = tmp_path / "evaluator.safetensors"
    shutil.copy(WEIGHTS_PATH, changed)
    data = bytearray(changed.read_bytes())
    data[-1] ^= 0xFF
    changed.write_bytes(bytes(data))
    with pytest.raises(GanlabError, match=rf"have SHA-256 [0-9a-f]{{64}}, expected {EVALUATOR_SHA256}"):
        load_evaluator(changed)
    with pytest.raises(GanlabError, match=r"evaluator weights not found: .*nothing.safetensors"):
        load_evaluator(tmp_path / "nothing.safetensors")


@pytest.mark.slow
def test_committed_accuracy_on_real_test_set(mnist_dir):
    from ganlab.data.mnist import load_mnist

    test = load_mnist("test", mnist_dir)
    acc = accuracy(load_evaluator(), test.images, test.labels)
    assert acc >= 0.993
    card_accuracy = re.search(r"test accuracy \| ([0-9.]+)%", MODEL_CARD_PATH.read_text())
    assert card_accuracy is not None and acc == pytest.approx(float(card_accuracy.group(1)) / 100, abs=1e-4)


def tiny_digits(n=192):
    """Ten easy classes: a bright 8x8 square at one of ten positions."""
    labels = torch.arange(n) % 10
    images = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        row, col = 2 + 9 * (label // 4), 2 + 6 * (label % 4)
        images[i, 0, row : row + 8, col : col + 6] = 255
    return images, labels


def test_recipe_is_seeded_and_leaves_torch_settings_alone(tmp_path):
    images, labels = tiny_digits()
    recipe = Recipe(epochs=1, batch_size=64, holdout=0)
    threads = torch.get_num_threads()
    first = train_evaluator(images, labels, images[:50], labels[:50], tmp_path / "a.safetensors", recipe, log=lambda s: None)
    second = train_evaluator(images, labels, images[:50], labels[:50], tmp_path / "b.safetensors", recipe, log=lambda s: None)
    assert first.sha256 == second.sha256 == sha256_file(tmp_path / "a.safetensors")
    assert first.test_accuracy > 0.5  # ten easy classes: chance is 0.1
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()
    assert isinstance(load_evaluator(first.path, sha256=first.sha256), MnistEvaluator)
    with pytest.raises(GanlabError, match=r"holdout: expected 0..191 held-out training images, got 192"):
        train_evaluator(images, labels, images, labels, tmp_path / "d.safetensors", Recipe(holdout=192), log=print)
    other = train_evaluator(images, labels, images[:50], labels[:50], tmp_path / "c.safetensors", Recipe(epochs=1, batch_size=64, seed=1, holdout=0), log=lambda s: None)
    assert other.sha256 != first.sha256


def test_cli_info_checks_sha():
    result = runner.invoke(commands.evaluator_app, ["info"])
    assert result.exit_code == 0, result.output
    assert f"SHA-256 OK: {EVALUATOR_SHA256}" in result.output
    assert "test accuracy:" in result.output


def test_cli_info_reports_mismatch(tmp_path):
    changed = tmp_path / "mnist_evaluator.safetensors"
    changed.write_bytes(b"not the evaluator")
    result = runner.invoke(commands.evaluator_app, ["info", "--path", str(changed)])
    assert result.exit_code == 2
    assert "error: SHA-256 mismatch" in result.output


def test_cli_train_writes_weights_and_card(tmp_path, monkeypatch):
    from ganlab.data import mnist

    images, labels = tiny_digits()
    monkeypatch.setattr(mnist, "load_mnist", lambda split, data_dir=None: mnist.ImageDataset(images, labels))
    out = tmp_path / "ev" / "mine.safetensors"
    result = runner.invoke(commands.evaluator_app, ["train", "--out", str(out), "--epochs", "1", "--holdout", "0"])
    assert result.exit_code == 0, result.output
    sha = sha256_file(out)
    assert f"SHA-256 {sha}" in result.output.replace("\n", "")
    card = (tmp_path / "ev" / "MODEL_CARD.md").read_text()
    assert sha in card and f"ganlab evaluator train --out {out} --epochs 1 --seed 0 --holdout 0" in card
