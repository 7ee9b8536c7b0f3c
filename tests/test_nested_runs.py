"""Nested runs: study configs that differ only in length are one run, scored at each length.

A tiny ring study with the same config at 2 and 4 epochs plans one 4-epoch run per seed, which
keeps its weights after epoch 2 (bit for bit the 2-epoch run's final weights) and is scored
there; the verdicts pair the two lengths by seed. A kill between milestones loses nothing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from scipy import stats as sps
from typer.testing import CliRunner

from ganlab.api.run import Run, train
from ganlab.cli import app
from ganlab.study.spec import StudyRecord, parse_spec
from ganlab.study.stats import compare, sign_flip_p_value
from ganlab.study.synthetic import fake_study
from ganlab.study.tasks import plan, run_state
from ganlab.train.hooks import EpochResult

RING = ["train.ring_size=1280", "train.eval_every=1"]


def nested_spec(**changes) -> dict:
    """ring at 4 epochs against ring-short, the same config at 2."""
    data = {
        "name": "ring-nested",
        "set": RING + ["train.epochs=4"],
        "configs": {"ring-short": {"preset": "ring", "set": ["train.epochs=2"]}},
        "metrics": ["modes_covered", "high_quality"],
        "experiments": [{"id": 1, "control": "ring-short", "variants": ["ring"], "claim": "longer is better", "expected": "better"}],
    }  # fmt: skip
    data.update(changes)
    return data


def record_of(seeds: int = 2, **changes) -> StudyRecord:
    return StudyRecord(spec=parse_spec(nested_spec(**changes), "test"), seeds=seeds, epochs_scale=1.0, eval_n=200)


# Planning --------------------------------------------------------------------------------------


def test_a_config_that_differs_only_in_length_is_a_milestone_of_the_longer_run(tmp_path: Path):
    short0, short1, long0, long1 = plan(tmp_path, record_of())
    assert (short0.name, short0.seed, short0.host, long0.host) == ("ring-short", 0, "ring", None)
    assert not short0.trains and long0.trains
    assert short0.path == long0.path == tmp_path / "runs" / "ring" / "seed-0"  # one run directory
    assert short1.path == long1.path != long0.path  # per seed
    assert long0.config.train.keep_weights_at == [2] and long0.config.train.epochs == 4
    assert "train.keep_weights_at=[2]" in long0.overrides and short0.overrides == long0.overrides
    assert short0.config.train.epochs == 2  # its own config, scored from the run's epoch-2 weights
    assert short0.eval_path == long0.path / "eval-epoch-002.json" and long0.eval_path == long0.path / "eval.json"


def test_nested_runs_evaluate_as_often_as_the_shortest_config(tmp_path: Path):
    # eval_points 2: ring-short every epoch, ring every 2; the run evaluates every epoch.
    short, long = plan(tmp_path, record_of(seeds=1, eval_points=2))
    assert long.config.train.eval_every == 1 and short.config.train.eval_every == 1
    assert sum(o.startswith("train.eval_every=") for o in long.overrides) == 1


@pytest.mark.parametrize(
    "override",
    ["optim.decay=linear", "train.instance_noise=0.1", "monitor.action=stop", "monitor.action=keep-best", "monitor.action=rollback"],
)
def test_no_nesting_when_the_schedule_counts_down_over_the_run_or_can_end_it(tmp_path: Path, override: str):
    tasks = plan(tmp_path, record_of(set=[*RING, "train.epochs=4", override]))
    assert all(t.trains and not t.config.train.keep_weights_at for t in tasks)
    assert len({t.path for t in tasks}) == 4


def test_configs_that_differ_in_more_than_length_stay_apart(tmp_path: Path):
    changed = {"ring-short": {"preset": "ring", "set": ["train.epochs=2", "optim.g.lr=0.0001"]}}
    assert all(t.trains for t in plan(tmp_path, record_of(configs=changed)))


def test_the_dry_run_shows_each_milestone_and_times_the_run_once(tmp_path: Path):
    spec = tmp_path / "nested.yaml"
    spec.write_text(json.dumps(nested_spec()))
    result = CliRunner().invoke(
        app, ["study", "run", str(spec), "--seeds", "2", "--out", str(tmp_path / "study"), "--dry-run"], env={"COLUMNS": "220"}
    )
    assert result.exit_code == 0, result.output
    assert "= 4 runs (2 of them milestones of longer runs: 2 to train), 2 to run" in result.output
    assert "→ milestone 2 of ring seed 0" in result.output and "→ milestone 2 of ring seed 1" in result.output
    assert result.output.count("train.keep_weights_at=[2]") == 2  # the two runs, not their milestones


# Training: milestone weights, resume -----------------------------------------------------------


class KillAt:
    """A hook that interrupts training at the end of `epoch`, before its checkpoint."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch(self, result: EpochResult) -> None:
        if result.epoch == self.epoch:
            raise KeyboardInterrupt

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 2-epoch ring run, and the same config for 4 epochs keeping epoch 2, killed in epoch 3."""
    from ganlab.config import load_preset
    from ganlab.train.loop import train as train_loop

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("nested")
    short = train("ring", root / "short", overrides=[*RING, "train.epochs=2"], progress="quiet")
    config = load_preset("ring", [*RING, "train.epochs=4", "train.keep_weights_at=[2]"])
    with pytest.raises(KeyboardInterrupt):
        train_loop(config, root / "long", progress="quiet", hooks=[KillAt(3)])
    torch.set_num_threads(before)
    return {"short": short.path, "long": root / "long"}


def test_kept_weights_are_the_shorter_runs_final_weights_bit_for_bit(runs: dict[str, Path]):
    kept = load_file(runs["long"] / "weights" / "epoch_002.safetensors")
    final = load_file(runs["short"] / "weights" / "final.safetensors")
    assert kept.keys() == final.keys() and all(torch.equal(kept[k], final[k]) for k in kept)
    info = json.loads((runs["long"] / "run.json").read_text())
    assert info["milestones"]["2"]["weights"] == "weights/epoch_002.safetensors"
    assert info["milestones"]["2"]["health"] == info["health"] and info["milestones"]["2"]["trend"]["window"] == [1, 2]
    # Evaluated at the milestone, as the shorter run is at its end.
    evals = [json.loads(line)["epoch"] for line in (runs["long"] / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    assert 2 in evals


def test_a_resume_after_a_kill_between_milestones_keeps_the_milestone(runs: dict[str, Path], one_thread):
    from ganlab.api.run import resume

    kept = runs["long"] / "weights" / "epoch_002.safetensors"
    before = (kept.read_bytes(), kept.stat().st_mtime_ns)
    milestone = json.loads((runs["long"] / "run.json").read_text())["milestones"]
    run = resume(runs["long"], progress="quiet")
    assert run.info["status"] == "complete" and run.info["epochs_done"] == 4
    assert (kept.read_bytes(), kept.stat().st_mtime_ns) == before  # not lost, not rewritten
    assert run.info["milestones"] == milestone
    # `ganlab eval --which epoch-2` scores it into eval-epoch-002.json, beside eval.json.
    scores = Run(runs["long"]).evaluate(n=200, which="epoch-2")
    assert json.loads((runs["long"] / "eval-epoch-002.json").read_text())["which"] == "epoch-2"
    assert set(scores["metrics"]) == {"modes_covered", "high_quality"}
    assert not (runs["long"] / "eval.json").exists()


def test_a_kill_between_the_checkpoint_and_the_milestone_is_repaired_on_resume(tmp_path: Path, one_thread):
    """The kill comes after epoch 2's checkpoint, before its weights are kept: resume keeps them
    from the checkpoint, which holds the same weights."""
    from ganlab.api.run import resume
    from ganlab.config import load_preset
    from ganlab.train.loop import train as train_loop

    config = load_preset("ring", [*RING, "train.epochs=3", "train.keep_weights_at=[2]"])
    with pytest.raises(KeyboardInterrupt):
        train_loop(config, tmp_path / "run", progress="quiet", hooks=[KillAt(3)])
    kept = tmp_path / "run" / "weights" / "epoch_002.safetensors"
    expected = load_file(kept)
    kept.unlink()
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    del info["milestones"]
    (tmp_path / "run" / "run.json").write_text(json.dumps(info))
    run = resume(tmp_path / "run", progress="quiet")
    repaired = load_file(kept)
    assert all(torch.equal(repaired[k], expected[k]) for k in expected)
    assert "2" in run.info["milestones"]


def test_which_epoch_n_without_kept_weights_says_so(runs: dict[str, Path]):
    from ganlab.errors import GanlabError

    with pytest.raises(GanlabError, match=r"no epoch-3 weights at .*epoch_003.safetensors \(train.keep_weights_at: \[2\]\)"):
        Run(runs["long"]).sample(4, which="epoch-3")
    with pytest.raises(GanlabError, match="expected one of final, best, last or epoch-N, got 'epoch-x'"):
        Run(runs["long"]).sample(4, which="epoch-x")


# A study of nested runs, end to end ------------------------------------------------------------


def test_a_nested_study_trains_each_run_once_and_scores_every_milestone(tmp_path: Path):
    spec, study = tmp_path / "nested.yaml", tmp_path / "study"
    spec.write_text(json.dumps(nested_spec()))
    runner = CliRunner()
    args = ["study", "run", str(spec), "--seeds", "2", "--workers", "2", "--threads", "1", "--eval-n", "200", "--out", str(study)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "4/4 runs done (2 run now, 0 failed)" in result.output
    assert sorted(p.name for p in (study / "runs").iterdir()) == ["ring"]  # no directory of ring-short's own
    for seed in (0, 1):
        run = study / "runs" / "ring" / f"seed-{seed}"
        assert {"eval.json", "eval-epoch-002.json"} <= {p.name for p in run.iterdir()}
    # Each milestone is scored while its run goes on, and scoring it changes nothing in the run.
    seed0 = study / "runs" / "ring" / "seed-0"
    milestone_scored = json.loads((seed0 / "eval-epoch-002.json").read_text())["created"]
    assert milestone_scored < json.loads((seed0 / "run.json").read_text())["ended"]
    plain = train("ring", tmp_path / "plain", overrides=[*RING, "train.epochs=4", "train.keep_weights_at=[2]"], progress="quiet")
    unscored, scored = load_file(plain.path / "weights" / "final.safetensors"), load_file(seed0 / "weights" / "final.safetensors")
    assert all(torch.equal(unscored[k], scored[k]) for k in unscored)
    states = {(t.name, t.seed): run_state(t) for t in plan(study, record_of())}
    assert {s.state for s in states.values()} == {"done"}
    assert states["ring-short", 0].detail == "milestone 2 of ring" and states["ring-short", 0].epochs_done == 2

    status = runner.invoke(app, ["study", "status", str(study)], env={"COLUMNS": "200"})
    assert status.exit_code == 0 and "milestone 2 of ring" in status.output and "8/8 epochs" in status.output
    verdicts = runner.invoke(app, ["study", "verdicts", str(study)], env={"COLUMNS": "200"})
    assert verdicts.exit_code == 0 and "(seeds 2/2 paired)" in verdicts.output
    again = runner.invoke(app, ["study", "run", str(study)])
    assert again.exit_code == 0 and "0 to run" in again.output


# Paired verdicts -------------------------------------------------------------------------------


def test_paired_t_test_matches_scipy_and_finds_what_welch_cannot():
    # Seeds differ a lot; the variant is better (lower FID) by about 10 on every seed.
    control, variant = [110.0, 150.0, 90.0], [100.5, 139.0, 80.2]
    paired = compare(variant, control, "fid", higher_is_better=False, paired=True)
    assert paired.paired and paired.df == 2
    assert paired.p_value == pytest.approx(sps.ttest_rel(variant, control).pvalue, rel=1e-12)
    assert paired.verdict == "better" and paired.diff_ci_high < 0
    assert compare(variant, control, "fid", higher_is_better=False).verdict == "no significant difference"
    assert paired.detectable < 10  # from the spread of the differences, not of the seeds


def test_paired_test_with_constant_differences_is_the_exact_sign_flip_test():
    assert sign_flip_p_value([1.0, 1.0, 1.0]) == 0.25  # 2 of 8 sign patterns as extreme
    assert sign_flip_p_value([1.0] * 6) == pytest.approx(2 / 64)
    three = compare([9, 9, 9], [10, 10, 10], "classes_covered", paired=True)
    assert three.p_value == 0.25 and three.verdict == "no significant difference" and math.isinf(three.detectable)
    six = compare([9] * 6, [10] * 6, "classes_covered", paired=True)
    assert six.verdict == "worse" and six.detectable == 0.0
    assert compare([1.0, float("nan")], [2.0, 3.0], paired=True).verdict == "too few seeds"  # one whole pair


def test_nested_sides_are_compared_by_seed_in_the_verdicts(tmp_path: Path):
    """A made-up study with known scores: ring-short at 2 epochs, ring at 4, per seed; the longer
    run covers one mode more on every seed, over a wide spread between seeds."""
    from ganlab.report.studies import study_views

    def scores(name: str, seed: int) -> dict[str, float]:
        base = [2.0, 5.0, 3.0][seed]
        return {"modes_covered": base + (name == "ring") + seed / 10 * (name == "ring"), "high_quality": 0.1 * base}

    record = record_of(seeds=3)
    fake_study(tmp_path, record.spec, 3, scores, {"modes_covered": True, "high_quality": True})
    (view,) = study_views(tmp_path, pictures=False)["comparisons"]
    assert view.paired and (view.n_variant, view.n_control) == (3, 3)
    modes = next(c for c in view.comparisons if c.metric == "modes_covered")
    expected = sps.ttest_rel([3.0, 6.1, 4.2], [2.0, 5.0, 3.0]).pvalue
    assert modes.paired and modes.p_value == pytest.approx(expected) and modes.verdict == "better"
    quality = next(c for c in view.comparisons if c.metric == "high_quality")
    assert quality.verdict == "no significant difference" and quality.difference == 0
