"""Bounds on the numeric options that size work or memory: a value outside is a one-line error that
names the option and its range (exit 2), before the command does anything (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ganlab.cli import app
from ganlab.cli.bounds import EPOCHS_SCALE, EVAL_N, Bound
from ganlab.errors import GanlabError

CASES = [
    (["eval", "{run}", "--n", "100000000000"], "--n: expected 11..100,000, got 100000000000"),
    (["eval", "--real", "--n", "5"], "--n: expected 11..100,000, got 5"),
    (["eval", "{run}", "--seed", "-1"], "--seed: expected 0..4,294,967,295, got -1"),
    (["sample", "{run}", "--n", "0"], "--n: expected 1..4,096, got 0"),
    (["sample", "{run}", "--seed", str(2**40)], f"--seed: expected 0..4,294,967,295, got {2**40}"),
    (["train", "--threads", "0"], "--threads: expected 1..1,024, got 0"),
    (["study", "run", "ring", "--epochs-scale", "inf"], "--epochs-scale: expected a number > 0 and <= 100, got inf"),
    (["study", "run", "ring", "--epochs-scale", "nan"], "--epochs-scale: expected a number > 0 and <= 100, got nan"),
    (["study", "run", "ring", "--epochs-scale", "0"], "--epochs-scale: expected a number > 0 and <= 100, got 0.0"),
    (["study", "run", "ring", "--seeds", "1000000"], "--seeds: expected 1..100, got 1000000"),
    (["study", "run", "ring", "--workers", "0"], "--workers: expected 1..256, got 0"),
    (["study", "run", "ring", "--eval-n", "10000000"], "--eval-n: expected 11..100,000, got 10000000"),
    (["report", "{run}", "--max-frames", "100000"], "--max-frames: expected 1..1,000, got 100000"),
    (["bench", "--steps", "0"], "--steps: expected 1..100,000, got 0"),
    (["evaluator", "train", "--epochs", "100000"], "--epochs: expected 1..1,000, got 100000"),
]


@pytest.mark.parametrize("args, message", CASES, ids=[" ".join(a[:3]) for a, _ in CASES])
def test_an_out_of_range_option_is_a_one_line_error_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
):
    monkeypatch.chdir(tmp_path)  # anything a command wrongly went on to write lands here
    run = tmp_path / "run"
    run.mkdir()
    result = CliRunner().invoke(app, [a.format(run=run) for a in args])
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {message}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run"] and not any(run.iterdir())


def test_the_limits_themselves_are_accepted_and_shown_in_help():
    EVAL_N.check("--n", 11)
    EVAL_N.check("--n", 100_000)
    EPOCHS_SCALE.check("--epochs-scale", 100.0)
    with pytest.raises(GanlabError, match=r"^--x: expected 0\.5\.\.2, got 2\.5$"):
        Bound(0.5, 2.0).check("--x", 2.5)
    help_text = CliRunner().invoke(app, ["eval", "--help"], env={"COLUMNS": "200"}).output
    assert "(11..100,000)" in help_text
