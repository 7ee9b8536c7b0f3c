"""The runs of a study: one task per (config, seed), and the state of each, read back from its
run directory only (so `ganlab study status` works from another shell while the study runs)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ganlab.config import RunConfig
from ganlab.files import read_json
from ganlab.rundir import RecordError, RunDir
from ganlab.study.spec import StudyRecord, read_record, resolve_config, run_overrides

State = Literal["done", "running", "failed", "stale", "incomplete", "pending", "damaged"]
# States the runner works on when the study is run again.
TO_RUN: tuple[State, ...] = ("pending", "incomplete", "failed")
MARKER = "study-run.json"
LOG = "log.txt"
FLOOR = "floor.json"


# The plan: one task per (config, seed) ---------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RunTask:
    """One run of the study: config `name` with seed `seed`, in directory `path`."""

    name: str
    seed: int
    preset: str
    overrides: tuple[str, ...]
    config: RunConfig
    path: Path

    @property
    def label(self) -> str:
        return f"{self.name} seed-{self.seed}"

    @property
    def recipe(self) -> dict[str, Any]:
        """What `ganlab train` gets: recorded with the run, compared when the study is run again."""
        return {"preset": self.preset, "overrides": list(self.overrides)}


def run_path(study_dir: Path, name: str, seed: int) -> Path:
    """The run directory of config `name`, seed `seed`, in a study."""
    return Path(study_dir) / "runs" / name / f"seed-{seed}"


def plan(study_dir: Path, record: StudyRecord) -> list[RunTask]:
    """Every run of the study, configs resolved and validated (a bad config fails here, first)."""
    tasks = []
    for name in record.spec.config_names():
        for seed in range(record.seeds):
            preset, overrides = run_overrides(record.spec, name, seed, record.epochs_scale)
            config = resolve_config(record.spec, name, seed, record.epochs_scale)
            tasks.append(RunTask(name, seed, preset, tuple(overrides), config, run_path(study_dir, name, seed)))
    return tasks


# The state of a run, read from its directory -------------------------------------------------


@dataclass(frozen=True)
class RunState:
    state: State
    epochs_done: int
    epochs: int
    detail: str = ""  # the error of a failed run, or why a run is stale
    phase: str = ""  # "train" or "eval": where a failed run stopped
    seconds: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _alive(marker: dict[str, Any]) -> bool:
    if marker.get("host") != socket.gethostname() or not isinstance(marker.get("pid"), int):
        return False
    try:
        os.kill(marker["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_info(path: Path) -> tuple[dict[str, Any], str]:
    """(run.json of the run directory `path`, what is damaged in it or ""); ({}, "") when missing."""
    run = RunDir(path)
    if not run.info_path.exists():
        return {}, ""
    try:
        return run.read_info(), ""
    except RecordError as err:
        return {}, str(err)


def run_state(task: RunTask) -> RunState:
    """done (trained and scored), running, failed, stale (its config is not the study's),
    incomplete (started, cut short or not yet scored), pending (never started) or damaged (its
    run.json cannot be read: the study leaves it alone, as `train --resume` would refuse it)."""
    info, damage = read_info(task.path)
    if damage:
        return RunState("damaged", 0, task.config.train.epochs, damage)
    marker = read_json(task.path / MARKER) or {}
    epochs, done = task.config.train.epochs, int(info.get("epochs_done", 0))
    seconds = sum(info.get("seconds_per_epoch") or []) or None
    # The recipe (preset and overrides) the runner started this run with, not the resolved
    # config: a newer ganlab may add config fields or change defaults, which must not turn
    # every finished run stale.
    if "preset" in marker and (marker["preset"], marker.get("overrides")) != (task.preset, list(task.overrides)):
        return RunState(
            "stale", done, epochs,
            f"started as --preset {marker['preset']} {' '.join('--set ' + o for o in marker.get('overrides') or [])}, "
            "which is not the study's recipe for this run any more; move the directory away to train it again",
            info=info,
        )  # fmt: skip
    if marker.get("state") == "running" and _alive(marker):
        return RunState("running", done, epochs, phase=marker.get("phase", ""), seconds=seconds, info=info)
    trained = info.get("status") == "complete"
    if trained and (task.path / "eval.json").is_file():
        return RunState("done", done, epochs, seconds=seconds, info=info)
    if marker.get("state") == "failed" or info.get("status") == "failed":
        detail = marker.get("error") or info.get("error") or "failed"
        return RunState("failed", done, epochs, detail, "eval" if trained else "train", seconds, info)
    if info or marker:
        return RunState("incomplete", done, epochs, "not scored yet" if trained else "cut short", seconds=seconds, info=info)
    return RunState("pending", 0, epochs)


def study_states(study_dir: Path) -> tuple[StudyRecord, list[tuple[RunTask, RunState]]]:
    """The record of a study directory and the state of each of its runs."""
    record = read_record(study_dir)
    return record, [(task, run_state(task)) for task in plan(study_dir, record)]
