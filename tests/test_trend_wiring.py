"""Issue 17 wired in: the trend verdict at the end of `ganlab train`, in run.json, in `study
status`, in the verdicts and the reports; the power column beside every verdict."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ganlab.cli import app
from ganlab.metrics.trend import ADVICE, run_trend
from ganlab.names import fmt
from ganlab.report.html import write_report
from ganlab.report.studies import study_views
from ganlab.rundir import RunDir
from ganlab.study.power import detectable_difference, seeds_needed
from ganlab.study.spec import parse_spec
from ganlab.study.stats import compare
from ganlab.study.synthetic import fake_study

HIGHER = {"fid": False, "coverage": True}
FLAT = [40.0, 40.4, 39.7, 40.2, 39.8, 40.1]  # a plateau: noise around 40, no trend


def scores(name: str, seed: int) -> dict[str, float]:
    jitter = [0.0, 0.3, -0.2][seed]
    return {"fid": (30 if name == "fc-dropout-d-30" else 40) + jitter, "coverage": 0.4 + jitter / 10}


def make_study(tmp_path: Path, flat_control: bool = True) -> Path:
    """fc-dropout-d-30 against fc over 6 epochs; the variant's FID falls to the end (still
    improving), the control's is flat from the start (plateaued) when `flat_control`."""
    spec = parse_spec(
        {"name": "mini", "metrics": ["fid", "coverage"],
         "experiments": [{"id": 4, "control": "fc", "variants": ["fc-dropout-d-30"], "claim": "helps", "expected": "better"}]},
        "test",
    )  # fmt: skip
    study = tmp_path / "study"
    fake_study(study, spec, 3, scores, HIGHER, {"fid": 0.5, "coverage": 0.97}, epochs_scale=0.2)
    if flat_control:
        for seed in range(3):
            path = study / "runs" / "fc" / f"seed-{seed}" / "metrics.jsonl"
            records = [json.loads(line) for line in path.read_text().splitlines()]
            for record in records:
                if record["kind"] == "eval":
                    record["fid"] = FLAT[record["epoch"] - 1] + seed
            path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return study


def test_train_says_and_records_the_trend(tmp_path: Path):
    out = tmp_path / "ring"
    args = ["train", "-p", "ring", "--set", "train.epochs=3", "--set", "train.ring_size=1024",
            "--set", "train.eval_every=1", "--threads", "1"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    info = json.loads((out / "run.json").read_text())
    expected = run_trend(RunDir(out).read_metrics(), ("high_quality", True)).to_json()
    assert info["trend"] == expected and info["trend"]["window"] == [1, 3]
    last = result.output.splitlines()[-2:]
    assert last[0] == f"under-trained or bad? {expected['verdict']}: {ADVICE[expected['verdict']]}"
    assert last[1].startswith("  high_quality ") and max(len(line) for line in last) <= 100
    short = CliRunner().invoke(app, [*args[:4], "train.epochs=2", *args[5:], "--out", str(tmp_path / "short")])
    assert short.output.splitlines()[-2:] == [
        "under-trained or bad? too short: too few evaluations to tell", "  fewer than 3 evaluations of high_quality"
    ]


def test_a_comparison_with_a_side_still_improving_is_about_speed(tmp_path: Path):
    study = make_study(tmp_path)
    (view,) = study_views(study, pictures=False)["comparisons"]
    assert view.trend_variant == {"still improving": 3} and view.trend_control == {"plateaued": 3}
    assert view.speed_note == "the variant was still improving: the comparison is about speed, not the end point"
    (same,) = study_views(make_study(tmp_path / "b", flat_control=False), pictures=False)["comparisons"]
    assert same.speed_note.startswith("both sides were still improving")


def test_status_verdicts_and_report_show_the_trend_and_the_power(tmp_path: Path):
    study = make_study(tmp_path)
    status = CliRunner().invoke(app, ["study", "status", str(study)], env={"COLUMNS": "160"})
    rows = [line for line in status.output.splitlines() if "│ done" in line]
    assert len(rows) == 6 and sum("plateaued" in r for r in rows) == 3 and sum("still improving" in r for r in rows) == 3

    fid_v, fid_c = [30.0, 30.3, 29.8], [40.0, 40.3, 39.8]
    detectable = detectable_difference(fid_c, fid_v)
    markdown = CliRunner().invoke(app, ["study", "verdicts", str(study), "--markdown"]).output
    row = next(line for line in markdown.splitlines() if "fc-dropout-d-30 vs fc" in line)
    assert f"better (30.03 vs 40.03), detectable {fmt(detectable)}" in row
    assert "3/3 still improving / 3/3 plateaued (the variant was still improving" in row
    coverage = detectable_difference([0.4, 0.43, 0.38], [0.4, 0.43, 0.38])
    assert f"no significant difference (0.4033 vs 0.4033), likely smaller than {fmt(coverage)}" in row

    terminal = CliRunner().invoke(app, ["study", "verdicts", str(study)], env={"COLUMNS": "200"}).output
    assert max(len(line) for line in terminal.splitlines()[1:]) <= 100
    assert "under-trained or bad? (variant / control): 3/3 still improving / 3/3 plateaued" in terminal

    html = write_report(study).path.read_text()
    summary = re.search(r'<table id="summary">(.*?)</table>', html, re.S).group(1)
    assert f"detectable {fmt(detectable)}" in summary and "likely &lt; " in summary
    assert "the variant was still improving" in summary
    run_page = write_report(study / "runs" / "fc" / "seed-0").path.read_text()
    assert re.search(r'<p id="trend">Under-trained or bad\? <span class="trend plateaued"', run_page)


def test_seeds_needed_when_neither_side_varies_follows_the_permutation_test():
    assert seeds_needed(1.0, 0.0, 0.0) == 4  # 3 a side: smallest p = 2/20 = 0.1; 4 a side: 2/70
    assert seeds_needed(0.0, 0.0, 0.0) is None
    assert seeds_needed(2.0, 2.0, 2.0) == pytest.approx(seeds_needed(-2.0, 2.0, 2.0))


def test_seeds_needed_for_a_constant_paired_difference_follows_the_sign_flip_test():
    # The sign-flip test's smallest p-value is 2 / 2^n: 5 pairs cannot reach 0.05, 6 can.
    assert seeds_needed(1.0, 0.0, 0.0, paired=True) == 6
    for n, verdict in ((5, "no significant difference"), (6, "better")):
        control = [float(seed) for seed in range(n)]
        result = compare([c + 1.0 for c in control], control, "recall", True, paired=True)
        assert result.verdict == verdict
