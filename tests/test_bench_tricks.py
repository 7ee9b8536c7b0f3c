"""`ganlab bench tricks`: each config of a study timed against its control, per epoch of data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from ganlab.bench.runner import BenchData
from ganlab.bench.tricks import controls, time_tricks, trick_configs
from ganlab.cli import app
from ganlab.errors import GanlabError
from ganlab.study.spec import load_spec, parse_spec


def test_every_ganhacks_variant_is_priced_against_its_control():
    spec = load_spec("ganhacks")
    control_of = controls(spec)
    assert set(control_of) == set(spec.config_names())
    assert control_of["fc"] == "fc" and control_of["wgan-gp"] == "fc" and control_of["pack-2"] == "fc"


def test_a_config_of_another_dataset_is_refused_by_name():
    spec = parse_spec(
        {"name": "mixed", "experiments": [{"id": 1, "control": "fc", "variants": ["ring"], "claim": "-", "expected": "same"}]},
        "test",
    )
    with pytest.raises(GanlabError, match="times MNIST training steps; not MNIST: ring"):
        trick_configs(spec)


def test_the_record_prices_each_config_per_epoch_of_data(tmp_path: Path, one_thread):
    spec = tmp_path / "two.yaml"
    spec.write_text(json.dumps({
        "name": "two", "set": ["model.g.hidden=[16]", "model.d.hidden=[16]", "train.batch_size=32"],
        "configs": {"two-d-steps": {"preset": "fc", "set": ["train.n_critic=2"]}},
        "experiments": [{"id": 1, "control": "fc", "variants": ["two-d-steps"], "claim": "-", "expected": "same"}],
    }))  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (256, 1, 28, 28), dtype=torch.uint8, generator=generator)
    data = BenchData(pixels, torch.zeros(256, dtype=torch.int64), "random")
    console = Console(record=True, width=120)
    study = load_spec(spec)
    record = time_tricks(study, trick_configs(study), data, torch.device("cpu"), steps=2, repeats=1, console=console)
    rows = record["configs"]
    assert (rows["fc"]["steps_per_epoch"], rows["two-d-steps"]["steps_per_epoch"]) == (8, 4)  # 256 / 32, then 2 batches a step
    assert rows["fc"]["vs_control"] == 1.0 and rows["two-d-steps"]["control"] == "fc"
    ratio = rows["two-d-steps"]["seconds_per_epoch"]["median"] / rows["fc"]["seconds_per_epoch"]["median"]
    assert rows["two-d-steps"]["vs_control"] == pytest.approx(ratio)
    table = console.export_text()
    assert "two-d-steps" in table and "(control)" in table


def test_bench_tricks_refuses_an_unknown_spec_before_timing_anything():
    result = CliRunner().invoke(app, ["bench", "tricks", "--spec", "no-such-study"])
    assert result.exit_code == 2 and "no-such-study" in result.output
