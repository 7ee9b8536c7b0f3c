"""Study specs: the shipped reference study, validation, seeds and the epochs scale."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ganlab.cli import app
from ganlab.config import load_preset, preset_names
from ganlab.study.runner import prepare
from ganlab.study.spec import (
    StudyError,
    StudyRecord,
    load_spec,
    parse_spec,
    read_record,
    resolve_config,
    spec_names,
    write_record,
)
from ganlab.study.tasks import plan

STUDY_PRESETS = {
    "fc", "fc-epochs-50", "fc-epochs-100", "fc-epochs-300", "fc-width-128", "fc-dropout-g-40", "fc-dropout-d-30",
    "fc-dropout-d-40", "fc-dropout-d-50", "fc-sgd-d", "fc-unscaled", "fc-batchnorm-g", "fc-uniform-noise", "conv-g",
    "conv-g-100", "conv-g-wide",
}  # fmt: skip



def tiny(**changes) -> dict:
    data = {
        "name": "tiny",
        "experiments": [{"id": 1, "control": "ring", "variants": ["ring-b"], "claim": "b is worse", "expected": "worse"}],
        "configs": {"ring-b": {"preset": "ring", "set": ["optim.g.lr=0.0001"]}},
        "metrics": ["modes_covered"],
    }
    data.update(changes)
    return data


def test_shipped_seed_study_covers_experiments_1_to_12():
    spec = load_spec("seed-study")
    assert "seed-study" in spec_names()
    assert [e.id for e in spec.experiments] == [str(i) for i in range(1, 13)]
    assert set(spec.config_names()) == STUDY_PRESETS and STUDY_PRESETS <= set(preset_names())
    by_id = {e.id: e for e in spec.experiments}
    assert by_id["6"].control == "fc-dropout-d-30" and by_id["6"].variants[0].config == "fc-sgd-d"
    assert by_id["10"].control == "fc-dropout-d-30" and by_id["11"].control == "conv-g"
    assert "dropout in D helps" in by_id["4"].claim and by_id["4"].expected == "better"
    three_hundred = by_id["1"].variants[2]
    assert three_hundred.config == "fc-epochs-300" and by_id["1"].expected_of(three_hundred) == "worse"
    assert spec.metrics == ["fid", "kid", "coverage", "classes_covered"]


def test_epochs_scale_multiplies_each_preset_at_least_one():
    spec = load_spec("seed-study")
    assert resolve_config(spec, "fc-epochs-300", 2, 0.2).train.epochs == 60
    assert resolve_config(spec, "fc", 0, 0.2).train.epochs == 6
    config = resolve_config(spec, "fc", 0, 0.001)
    assert config.train.epochs == 1 and config.train.seed == 0 and config.name == "fc"
    assert resolve_config(spec, "fc", 2, 1.0).train.seed == 2


def test_eval_points_set_eval_every_after_scaling():
    spec = load_spec("seed-study")
    assert spec.eval_points == 5
    fc = resolve_config(spec, "fc", 0, 0.2)
    assert fc.train.eval_every == 2  # 6 epochs: evaluate at 2, 4, 6
    assert fc.train.eval_metrics == ["fid", "kid", "coverage", "classes_covered"]  # curves of the verdicts' metrics
    assert resolve_config(spec, "fc-epochs-300", 0, 0.2).train.eval_every == 12  # 60 epochs
    assert resolve_config(spec, "fc", 0, 0.01).train.eval_every == 1
    assert resolve_config(parse_spec(tiny(), "x"), "ring", 0, 1.0).train.eval_every == 0
    # The ring's scorer reports its own metrics: the MNIST metrics of the spec are not asked of it.
    ring = resolve_config(parse_spec(tiny(eval_points=2, metrics=["modes_covered", "fid"]), "x"), "ring", 0, 1.0)
    assert ring.train.eval_every > 0 and ring.train.eval_metrics == load_preset("ring").train.eval_metrics


def test_named_configs_and_study_wide_overrides():
    spec = parse_spec(tiny(set=["train.ring_size=2560"]), "test")
    config = resolve_config(spec, "ring-b", 1, 1.0)
    assert config.name == "ring-b" and config.optim.g.lr == 0.0001
    assert config.train.ring_size == 2560 and config.train.seed == 1


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"experiments": [{"id": 1, "control": "ring", "variants": ["nope"]}]}, r"variants\[0\]: unknown preset 'nope'"),
        ({"experiments": [{"id": 1, "control": "nope", "variants": ["ring"]}]}, r"control: unknown preset 'nope'"),
        ({"configs": {"ring-b": {"preset": "zzz"}}}, r"configs.ring-b.preset: unknown preset 'zzz'"),
        ({"colour": "red"}, r"colour: unknown key"),
        ({"experiments": [{"id": 1, "control": "ring", "variants": ["ring-b"], "expected": "maybe"}]}, r"expected"),
        ({"experiments": [{"id": 1, "control": "ring", "variants": ["ring-b"]}] * 2}, r"unique, repeated: 1"),
        ({"experiments": [{"id": 1, "control": "ring", "variants": ["ring"]}]}, r"both the control and a variant"),
        ({"name": "../escape"}, r"name: String should match pattern"),
        ({"metrics": ["fid", "fdi"]}, r"metrics: unknown fdi; known: fid"),
    ],
)
def test_invalid_specs_name_the_field(changes, message):
    with pytest.raises(StudyError, match=message):
        parse_spec(tiny(**changes), "my.yaml")


def test_bad_override_in_a_config_fails_before_running(tmp_path: Path):
    spec = parse_spec(tiny(configs={"ring-b": {"preset": "ring", "set": ["model.g.dropout=2"]}}), "x")
    record = StudyRecord(spec=spec, seeds=1, epochs_scale=1.0, eval_n=100)
    with pytest.raises(StudyError, match="config 'ring-b'"):
        plan(tmp_path, record)


def test_unknown_preset_in_a_user_spec_exits_2(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(tiny(experiments=[{"id": 1, "control": "ring", "variants": ["fc-wide"]}])))
    result = CliRunner().invoke(app, ["study", "run", str(path), "--out", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "error:" in result.stderr and "unknown preset 'fc-wide'" in result.stderr
    assert not (tmp_path / "s").exists()


def test_unknown_study_name_exits_2():
    result = CliRunner().invoke(app, ["study", "run", "no-such-study"])
    assert result.exit_code == 2 and "unknown study 'no-such-study'" in result.stderr


def test_dry_run_plans_every_config_and_seed_and_writes_nothing(tmp_path: Path):
    out = tmp_path / "study"
    result = CliRunner().invoke(
        app, ["study", "run", "seed-study", "--seeds", "2", "--epochs-scale", "0.2", "--out", str(out), "--dry-run"],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    # fc at 6, 10 and 20 epochs are milestones of fc-epochs-300's 60, conv-g's 6 of conv-g-100's 20.
    assert "16 configs x 2 seeds = 32 runs (8 of them milestones of longer runs: 24 to train), 24 to run" in result.output
    assert "→ milestone 6 of fc-epochs-300 seed 1" in result.output and "→ milestone 6 of conv-g-100 seed 0" in result.output
    assert "train.epochs=60" in result.output  # fc-epochs-300 scaled by 0.2
    assert not out.exists()


def test_epochs_scale_must_be_positive(tmp_path: Path):
    result = CliRunner().invoke(app, ["study", "run", "seed-study", "--epochs-scale", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--epochs-scale: expected a number > 0" in result.stderr


def test_study_record_round_trip_and_resume_rules(tmp_path: Path):
    spec = parse_spec(tiny(), "x")
    record = prepare(tmp_path, spec, seeds=2, epochs_scale=0.5, eval_n=500)
    write_record(tmp_path, record)
    assert read_record(tmp_path) == record
    # Resuming keeps the stored knobs; more seeds may be added.
    assert prepare(tmp_path, None, None, None, None) == record
    assert prepare(tmp_path, None, 4, None, None).seeds == 4
    with pytest.raises(StudyError, match="was run with --epochs-scale 0.5, got 1.0"):
        prepare(tmp_path, None, None, 1.0, None)
    with pytest.raises(StudyError, match="was run with --eval-n 500, got 100"):
        prepare(tmp_path, spec, None, None, 100)
    with pytest.raises(StudyError, match="holds study 'tiny', not 'other'"):
        prepare(tmp_path, parse_spec(tiny(name="other"), "x"), None, None, None)
    with pytest.raises(StudyError, match="not a study directory"):
        read_record(tmp_path / "nothing")


def test_list_and_show():
    runner = CliRunner()
    listed = runner.invoke(app, ["study", "list"])
    assert listed.exit_code == 0 and "seed-study" in listed.output
    shown = runner.invoke(app, ["study", "show", "seed-study"])
    assert shown.exit_code == 0 and shown.output.startswith("# The reference study")


def test_the_seed_study_cites_nothing_missing_and_the_readmes_epoch_scale():
    import re

    from ganlab.study.spec import spec_text

    text = spec_text("seed-study")[0]
    repo = Path(__file__).parents[1]
    for cited in re.findall(r"[\w./-]+\.md\b", text):
        assert (repo / cited).is_file() or (repo / "docs" / cited).is_file(), f"{cited} is not in the repository"
    scales = re.findall(r"--epochs-scale ([\d.]+)", text)
    readme = (repo / "README.md").read_text()
    assert scales and all(f"--epochs-scale {scale}" in readme for scale in scales)


@pytest.mark.parametrize("name", spec_names())
def test_every_config_of_every_shipped_study_resolves(name: str):
    spec = load_spec(name)
    for config in spec.config_names():
        resolve_config(spec, config, seed=0, epochs_scale=0.1)  # a typo in an override fails here


def test_the_ganhacks_study_measures_every_loss_penalty_and_model_switch():
    from ganlab.config import LOSS_NAMES, PENALTY_NAMES

    spec = load_spec("ganhacks")
    configs = [resolve_config(spec, name, 0, 1.0) for name in spec.config_names()]
    assert {c.train.loss for c in configs} == set(LOSS_NAMES)
    assert set().union(*(c.train.penalties for c in configs)) == set(PENALTY_NAMES)
    switched = {
        "clip": any(c.train.clip for c in configs), "ema": any(c.train.ema for c in configs),
        "ema warm-up": any(c.train.ema_warmup for c in configs),
        "replay": any(c.train.replay for c in configs), "instance noise": any(c.train.instance_noise for c in configs),
        "smoothing": any(c.train.label_smoothing for c in configs), "flip": any(c.train.label_flip for c in configs),
        "decay": any(c.optim.decay != "none" for c in configs), "n_critic": any(c.train.n_critic > 1 for c in configs),
        "sn": any(c.model.d.spectral_norm for c in configs), "mbstd": any(c.model.d.minibatch_std for c in configs),
        "pack": any(c.model.d.pack > 1 for c in configs), "spherical": any(c.noise.distribution == "spherical" for c in configs),
        "dropout at sampling": any(getattr(c.model.g, "dropout_at_sampling", False) for c in configs),
    }  # fmt: skip
    assert all(switched.values()), [k for k, v in switched.items() if not v]
