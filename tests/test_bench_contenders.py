"""`ganlab bench`'s contenders in their own process: the protocol, spoken by a fake contender
script (no TensorFlow needed), interleaved with an in-process case, its failures, and the Keras
contenders' skip notes. Timing figures are not tested, only that they are reported."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ganlab.bench.contenders import ContenderProcess, keras_missing, keras_model_lacks
from ganlab.bench.runner import interleave
from ganlab.bench.suite import _keras_skipped
from ganlab.config import load_preset
from ganlab.errors import GanlabError

FAKE = Path(__file__).parent / "fixtures" / "fake_contender.py"


def test_a_contender_process_steps_in_the_interleaved_rounds(tmp_path: Path):
    log = tmp_path / "asked.txt"
    child = ContenderProcess("fake", FAKE, {"log": str(log), "xla": True, "threads": 2})
    assert (child.build_seconds, child.first_step_seconds) == (0.25, 2.0)
    steps_here: list[int] = []
    try:
        seconds = interleave({"here": steps_here.append, "fake": child.case()}, steps=3, repeats=2, warmup=1)
    finally:
        child.close()
    assert child.process.returncode == 0 and steps_here == [1, 3, 3]
    assert log.read_text().splitlines() == ["setup xla=True threads=2", "steps 1", "steps 3", "steps 3", "quit"]
    assert len(seconds["fake"]) == 2 and min(seconds["fake"]) > 0


def test_a_failing_contender_is_one_error_quoting_its_stderr(tmp_path: Path):
    with pytest.raises(GanlabError, match=r"^bench contender fake exited: cannot build: no GPU$"):
        ContenderProcess("fake", FAKE, {"fail": "no GPU"})
    child = ContenderProcess("odd", FAKE, {"log": str(tmp_path / "log"), "xla": False, "threads": 1, "answer": "what?"})
    with pytest.raises(GanlabError, match=r"^bench contender odd answered 'what\?', not 'done'"):
        child.case()(1)
    assert child.process.poll() is not None  # closed on the way out


def test_keras_contenders_are_skipped_with_a_reason(monkeypatch):
    import torch

    fc = load_preset("fc")
    monkeypatch.setattr("ganlab.bench.contenders.importlib.util.find_spec", lambda name: None)
    assert keras_missing() == "TensorFlow is not installed (pip install 'ganlab[keras]')"
    assert _keras_skipped(fc, torch.device("cpu")) == keras_missing()
    monkeypatch.undo()
    assert keras_model_lacks(fc) is None and keras_model_lacks(load_preset("conv-g")) is None
    assert keras_model_lacks(load_preset("dcgan")) == "a generator beyond the study's fc and conv ones"
    assert keras_model_lacks(load_preset("fc", ["model.d.pack=2"])) == "a discriminator beyond the study's MLP"
    assert _keras_skipped(fc, torch.device("meta")) == "they run on the CPU (tensorflow-cpu), not meta"


def test_without_tensorflow_the_record_says_why_in_one_line(monkeypatch):
    import io

    import torch
    from rich.console import Console

    from ganlab.bench import suite

    reason = "TensorFlow is not installed (pip install 'ganlab[keras]')"
    monkeypatch.setattr(suite, "keras_missing", lambda: reason)
    asked = []  # time_preset's `keras` argument: None, nothing to start
    monkeypatch.setattr(suite, "time_preset", lambda *args: asked.append(args[-1]) or {"preset": args[0]})
    monkeypatch.setattr(suite, "print_target", lambda *args: None)
    blank = suite.BenchData(torch.zeros(1, 1, 28, 28, dtype=torch.uint8), torch.zeros(1), "blank")
    monkeypatch.setattr(suite, "bench_data", lambda data_dir: blank)
    out = io.StringIO()
    record = suite.run_bench(
        {"fc": load_preset("fc")}, None, steps=1, repeats=1, device=torch.device("cpu"), data_dir=None,
        console=Console(file=out, width=40),
    )  # fmt: skip
    assert asked == [None] and record["targets"]["fc"] == {"preset": "fc", "contenders_skipped": reason}
    assert f"fc: Keras contenders skipped: {reason}\n" in out.getvalue()  # one line, even on a narrow console
