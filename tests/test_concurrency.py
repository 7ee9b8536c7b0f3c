"""Two writers on one run: the second is refused with exit 2, naming the first's pid, and the first's
records stay intact (issue 14: without a lock, two resumes interleaved metrics.jsonl)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ganlab.api import resume
from ganlab.cli import app
from ganlab.rundir import RunDir, RunLockedError

# Long enough never to finish while the test runs (it is stopped with Ctrl-C), each epoch short.
LONG_RING = ["train.epochs=10000", "train.ring_size=2048", "model.g.hidden=[16]", "model.d.hidden=[16]"]


def _epochs(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return [json.loads(line)["epoch"] for line in lines if '"kind": "epoch"' in line]


def _wait(condition, what: str, writer: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if writer.poll() is not None:
            pytest.fail(f"the first writer ended (exit {writer.returncode}) before {what}: {writer.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            writer.kill()
            pytest.fail(f"no {what} after {seconds} s")
        time.sleep(0.1)


def test_a_second_writer_is_refused_naming_the_first_and_the_first_records_stay_intact(tmp_path: Path):
    run = tmp_path / "ring"
    command = [sys.executable, "-m", "ganlab.cli", "train", "-p", "ring", "--out", str(run), "--quiet", "--device", "cpu"]
    command += [x for o in LONG_RING for x in ("--set", o)]
    # Ctrl-C must reach the writer as KeyboardInterrupt, even where pytest runs with SIGINT ignored.
    writer = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        lock = run / ".lock"
        _wait(lambda: lock.is_file() and f'"pid": {writer.pid}' in lock.read_text(), "lock", writer)
        _wait(lambda: (run / "checkpoints" / "last.safetensors").is_file(), "first checkpoint", writer)

        again = CliRunner().invoke(app, ["train", "--resume", str(run), "--quiet"])
        assert again.exit_code == 2, again.output
        assert again.output.startswith("error: ") and again.output.count("\n") == 1, again.output
        assert f"{run} is in use by pid {writer.pid} on " in again.output, again.output
        with pytest.raises(RunLockedError, match=f"in use by pid {writer.pid} on .* \\(training\\)"):
            resume(run, progress="quiet", device="cpu")
        fresh = CliRunner().invoke(app, ["train", "-p", "ring", "--out", str(run), "--quiet"])
        assert fresh.exit_code == 2 and str(run) in fresh.output, fresh.output

        epochs_then = len(_epochs(run))
        _wait(lambda: len(_epochs(run)) > epochs_then, "epoch after the refusals", writer)
    finally:
        writer.send_signal(signal.SIGINT)
        code = writer.wait(timeout=60)
    assert code == 130, writer.stderr.read()[-2000:]

    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r["epoch"] for r in records if r.get("kind") == "epoch"]
    steps = [r["step"] for r in records if r.get("kind") == "step"]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) > epochs_then
    assert steps == list(range(1, len(steps) + 1))  # each step once, in order
    # Ctrl-C may fall between an epoch's records and its checkpoint: a resume writes them again, bit for bit.
    assert json.loads((run / "run.json").read_text())["epochs_done"] in (len(epochs) - 1, len(epochs))
    with RunDir(run).lock("test"):  # released when the writer ended
        assert json.loads((run / ".lock").read_text())["pid"] == os.getpid()


def test_sigterm_marks_the_run_interrupted_and_says_how_to_resume(tmp_path: Path):
    # `kill`, `timeout` and schedulers stop a job with SIGTERM: it must not leave a run "running".
    run = tmp_path / "ring"
    command = [sys.executable, "-m", "ganlab.cli", "train", "-p", "ring", "--out", str(run), "--quiet", "--device", "cpu"]
    writer = subprocess.Popen(command + [x for o in LONG_RING for x in ("--set", o)], stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: (run / "checkpoints" / "last.safetensors").is_file(), "first checkpoint", writer)
    finally:
        writer.terminate()
        code = writer.wait(timeout=60)
    message = writer.stderr.read()
    assert code == 143, message[-2000:]
    assert f"continue with: ganlab train --resume {run}" in message
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted" and info["error"] == "KeyboardInterrupt: SIGTERM"
    with RunDir(run).lock("test"):  # released by the writer on its way out
        pass
