"""Contenders in their own process: the study's Keras loop (benchmarks/keras_baseline.py), timed
round by round against ganlab's step.

TensorFlow and torch must not share a process (their thread pools fight for the same cores), so
each contender is a persistent child process on pipes, set up once and then asked for `steps N`
in every round of `runner.interleave`, between the in-process cases: ganlab, keras, keras-xla,
then back. The child's first step (tracing, and XLA compilation) is reported apart, so the
interleaved medians are steady state. The protocol is in keras_baseline.py's docstring; any
script that speaks it is a contender (the tests use a fake one).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ganlab.bench.runner import BenchData, Case
from ganlab.config import RunConfig
from ganlab.errors import GanlabError

KERAS_PATH = Path(__file__).resolve().parents[3] / "benchmarks" / "keras_baseline.py"
KERAS_VARIANTS = {"keras": False, "keras-xla": True}  # contender name: compiled with XLA


def keras_missing() -> str | None:
    """Why the Keras contenders cannot run here (one line), or None when they can."""
    if importlib.util.find_spec("tensorflow") is None:
        return "TensorFlow is not installed (pip install 'ganlab[keras]')"
    return None


def keras_model_lacks(config: RunConfig) -> str | None:
    """What in `config` the Keras baseline does not build (it has the study's fc and conv G and MLP D)."""
    g, d = config.model.g, config.model.d
    if g.kind not in ("mlp", "conv") or (g.kind == "mlp" and (g.batch_norm or g.dropout > 0)):
        return "a generator beyond the study's fc and conv ones"
    if d.kind != "mlp" or d.batch_norm or d.pack != 1 or d.minibatch_std:
        return "a discriminator beyond the study's MLP"
    return None


class ContenderProcess:
    """One contender script in a child process (`python SCRIPT --serve`), set up and warmed by its
    first step. `first_step_seconds` is that step's time (tracing and compilation included).
    Its stderr goes to a temporary file, quoted when it fails."""

    def __init__(self, name: str, script: Path, setup: dict, env: dict[str, str] | None = None):
        self.name = name
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, str(script), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=os.environ | (env or {}),
        )
        self._send(json.dumps(setup))
        ready = json.loads(self._expect("ready"))
        self.build_seconds: float = ready["build_seconds"]
        self.first_step_seconds: float = ready["first_step_seconds"]

    def _send(self, line: str) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            self._fail("exited")

    def _expect(self, word: str) -> str:
        """The rest of the child's next line, which must start with `word`."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        head, _, rest = line.partition(" ")
        if head != word:
            self._fail(f"answered {line!r}, not {word!r}" if line else "exited")
        return rest

    def _fail(self, what: str) -> None:
        self.close()
        self.log.seek(0)
        tail = self.log.read().strip().splitlines()[-3:]
        raise GanlabError(f"bench contender {self.name} {what}" + (f": {' | '.join(tail)}" if tail else ""))

    def case(self) -> Case:
        """n steps in the child; returns when it has answered that they are done."""

        def run(n: int) -> None:
            self._send(f"steps {n}")
            self._expect("done")

        return run

    def close(self) -> None:
        """Ask the child to quit; kill it if it does not within 30 s. (Its log stays readable.)"""
        if self.process.poll() is not None:
            return
        try:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):  # a broken pipe, or a child that hangs
            self.process.kill()
            self.process.wait()


def start_contenders(
    variants: dict[str, bool], script: Path, config: RunConfig, data: BenchData, threads: int, folder: Path
) -> dict[str, ContenderProcess]:
    """One child per variant (name: XLA or not) training `config` on `data`, whose pixels are
    handed over as `folder`/images.npy; each with `threads` threads. On a failure the started
    ones are closed before the error propagates."""
    images = folder / "images.npy"
    if not images.exists():
        np.save(images, data.images.numpy())
    setup = {"config": config.model_dump(mode="json"), "images": str(images), "threads": threads}
    setup["seed"] = config.train.seed
    started: dict[str, ContenderProcess] = {}
    try:
        for name, xla in variants.items():
            started[name] = ContenderProcess(name, script, setup | {"xla": xla}, {"OMP_NUM_THREADS": str(threads)})
    except BaseException:
        close_all(started)
        raise
    return started


def close_all(contenders: dict[str, ContenderProcess]) -> None:
    """Close every contender's child process."""
    for contender in contenders.values():
        contender.close()
