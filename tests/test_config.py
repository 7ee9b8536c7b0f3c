"""Presets, overrides and the errors a bad config gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganlab.config import ConfigError, RunConfig, load_config_file, load_preset, preset_names, to_yaml

STUDY_PRESETS = {
    "fc", "fc-epochs-50", "fc-epochs-100", "fc-epochs-300", "fc-width-128", "fc-dropout-g-40",
    "fc-dropout-d-30", "fc-dropout-d-40", "fc-dropout-d-50", "fc-sgd-d", "fc-unscaled",
    "fc-batchnorm-g", "fc-uniform-noise", "conv-g", "conv-g-100", "conv-g-wide",
}  # fmt: skip


def test_every_study_experiment_has_a_preset_that_validates():
    assert STUDY_PRESETS <= set(preset_names())
    for name in preset_names():
        config = load_preset(name)
        assert config.name == name
        assert config.description


def test_baseline_matches_the_study():
    c = load_preset("fc")
    assert c.model.g.hidden == [128, 256, 512, 1024] and c.model.d.hidden == [1024, 512, 256, 128]
    assert (c.optim.g.name, c.optim.g.lr, c.optim.g.betas) == ("adam", 2e-4, (0.5, 0.999))
    assert (c.train.batch_size, c.train.epochs, c.noise.dim) == (128, 30, 100)
    assert c.data.scaling == "symmetric" and c.noise.distribution == "gaussian"


def test_variants_change_only_their_knob():
    assert load_preset("fc-sgd-d").optim.d.name == "sgd"
    assert load_preset("fc-sgd-d").model.d.dropout == 0.3
    assert load_preset("fc-unscaled").data.scaling == "raw"
    assert load_preset("fc-uniform-noise").noise.distribution == "uniform"
    conv = load_preset("conv-g-wide")
    assert conv.model.g.kind == "conv" and conv.model.g.filters == [16, 32, 64]
    assert conv.model.d.dropout == 0.3  # the study's best FC discriminator
    hybrid, toolbox = load_preset("dcgan-g-toolbox"), load_preset("fc-toolbox")
    assert (hybrid.model.g.kind, hybrid.model.g.filters, hybrid.model.g.output_conv) == ("dcgan", [64, 32], True)
    assert (hybrid.model.d, hybrid.optim, hybrid.train) == (toolbox.model.d, toolbox.optim, toolbox.train)


def test_overrides_are_typed_and_nested():
    c = load_preset("fc", ["train.epochs=5", "model.d.dropout=0.3", "model.g.hidden=[64, 64]"])
    assert c.train.epochs == 5 and c.model.d.dropout == 0.3 and c.model.g.hidden == [64, 64]


def test_an_override_of_kind_swaps_the_architecture_in_any_order():
    # fc's D has `hidden` and `dropout`, which a DCGAN D does not: they go with the old kind.
    for overrides in (
        ["model.d.kind=dcgan", "model.d.filters=[32, 64]", "model.d.batch_norm=false"],
        ["model.d.filters=[32, 64]", "model.d.batch_norm=false", "model.d.kind=dcgan"],
    ):
        d = load_preset("fc-toolbox", overrides).model.d
        assert (d.kind, d.filters, d.batch_norm, d.slope) == ("dcgan", [32, 64], False, 0.2)
    g = load_preset("dcgan", ["model.g.kind=mlp"]).model.g
    assert g.kind == "mlp" and g.hidden == [128, 256, 512, 1024]  # the MLP's defaults, the study's
    same = load_preset("fc-dropout-d-30", ["model.d.kind=mlp"]).model.d
    assert same.dropout == 0.3  # the same kind keeps its section


@pytest.mark.parametrize(
    "override, match",
    [
        ("train.epochs=five", r"train\.epochs: .*integer"),
        ("model.d.dropout=1.5", r"model\.d\.dropout: .*less than 1"),
        ("optim.g.lr=-0.1", r"optim\.g\.lr: .*greater than 0"),
        ("train.epoch=5", r"train\.epoch: unknown key"),
        ("data.scaling=sideways", r"data\.scaling: .*'symmetric'"),
        ("train.epochs", r"expected KEY=VALUE"),
    ],
)
def test_bad_overrides_name_the_field_and_reason(override, match):
    with pytest.raises(ConfigError, match=match):
        load_preset("fc", [override])


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown preset 'nope'; known presets: .*fc-width-128"):
        load_preset("nope")


def test_config_round_trips_through_yaml(tmp_path: Path):
    c = load_preset("conv-g", ["train.seed=7"])
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(c))
    assert load_config_file(path) == c
    assert RunConfig.model_validate(c.model_dump()) == c


def test_user_config_file_can_extend_a_preset(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: fc\nname: mine\ntrain: {epochs: 3}\n")
    c = load_config_file(path)
    assert (c.name, c.train.epochs, c.model.g.hidden) == ("mine", 3, [128, 256, 512, 1024])
    path.write_text("train: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"mine\.yaml.*train"):
        load_config_file(path)


@pytest.mark.parametrize("override, message", [
    ("train.ring_size=100000000000", r"train\.ring_size: Input should be less than or equal to 10000000"),
    ("optim.g.lr=.inf", r"optim\.g\.lr: Input should be a finite number"),
    ("train.penalties.r1=.nan", r"train\.penalties\.r1: Input should be a finite number"),
    ("model.g.hidden=[100000000]", r"model\.g\.hidden\.0: Input should be less than or equal to 65536"),
    ("noise.dim=1000000000", r"noise\.dim: Input should be less than or equal to 65536"),
    ("train.epochs=1000000", r"train\.epochs: Input should be less than or equal to 100000"),
    ("train.seed=4294967296", r"train\.seed: Input should be less than or equal to 4294967295"),
])  # fmt: skip
def test_sizes_are_bounded_and_numbers_finite(override: str, message: str):
    """A value that would size memory or work past any real config (a typo: 1e11 for 1e5), or
    NaN or infinity, is refused naming the field and the limit (issue 14)."""
    with pytest.raises(ConfigError, match=message):
        load_preset("fc", [override])
