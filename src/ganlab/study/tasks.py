"""The runs of a study: one task per (config, seed), and the state of each, read back from its
run directory only (so `ganlab study status` works from another shell while the study runs).

Configs that differ only in length are one run (`nest`): `fc` (30 epochs) and `fc-epochs-300`
are the 300-epoch run of each seed, which keeps its weights after epoch 30
(`train.keep_weights_at`); the worker scores them into eval-epoch-030.json, and `fc`'s task is
that milestone of `fc-epochs-300`'s run. The first 30 epochs of the long run are the 30-epoch
run, bit for bit, unless something in the config counts down over `train.epochs` or can end
the run early, which `nesting_key` refuses.
"""

from __future__ import annotations

import json
import os
import socket
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ganlab.config import ConfigError, RunConfig, load_preset
from ganlab.files import read_json
from ganlab.rundir import RecordError, RunDir, milestone_info
from ganlab.study.spec import StudyError, StudyRecord, read_record, resolve_config, run_overrides

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
    # A milestone: the config whose run (in `path`, trained by `preset` and `overrides`) holds
    # this one as its weights after epoch `config.train.epochs`. None: the task trains its run.
    host: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} seed-{self.seed}"

    @property
    def trains(self) -> bool:
        """Whether the task is a run of its own, not a milestone of a longer one."""
        return self.host is None

    @property
    def eval_path(self) -> Path:
        """The task's final scores: its run's eval.json, or a milestone's eval-epoch-NNN.json."""
        return RunDir(self.path).eval_path("final" if self.host is None else f"epoch-{self.config.train.epochs}")

    @property
    def recipe(self) -> dict[str, Any]:
        """What `ganlab train` gets: recorded with the run, compared when the study is run again."""
        return {"preset": self.preset, "overrides": list(self.overrides)}


def run_path(study_dir: Path, name: str, seed: int) -> Path:
    """The run directory of config `name`, seed `seed`, in a study."""
    return Path(study_dir) / "runs" / name / f"seed-{seed}"


def plan(study_dir: Path, record: StudyRecord) -> list[RunTask]:
    """Every (config, seed) of the study, configs resolved and validated (a bad config fails here,
    first), those that differ from a longer one only in length as its milestones (`nest`)."""
    tasks = []
    for name in record.spec.config_names():
        for seed in range(record.seeds):
            preset, overrides = run_overrides(record.spec, name, seed, record.epochs_scale)
            config = resolve_config(record.spec, name, seed, record.epochs_scale)
            tasks.append(RunTask(name, seed, preset, tuple(overrides), config, run_path(study_dir, name, seed)))
    return nest(tasks)


# What a run's length sets: its epochs, and how often it evaluates (a spec's eval_points).
LENGTH_KEYS = ("epochs", "eval_every", "keep_weights_at")


def nesting_key(config: RunConfig) -> str | None:
    """The config without its name, description and length: runs with the same key (and seed)
    are one run cut at different epochs. None when a run cannot be nested: learning-rate decay
    (`optim.decay` linear) and instance noise count down over the run's total steps, and a monitor
    action other than `warn` can end a run early or make its final weights the best checkpoint's."""
    if config.optim.decay != "none" or config.train.instance_noise > 0 or config.monitor.action != "warn":
        return None
    data = config.model_dump(mode="json")
    del data["name"], data["description"]
    # Evaluating at all builds the scorer at the start (which may draw from the global RNG); how
    # often does not change training.
    data["train"]["evaluates"] = config.train.eval_every > 0
    for key in LENGTH_KEYS:
        del data["train"][key]
    return json.dumps(data, sort_keys=True)


def nest(tasks: list[RunTask]) -> list[RunTask]:
    """`tasks`, with each group of equal nesting keys turned into one run: the longest (the first
    such) keeps its weights at the others' epochs and evaluates as often as the most frequent of
    them; each shorter one becomes its milestone, in its directory. Same-length configs stay apart."""
    groups: dict[str, list[RunTask]] = defaultdict(list)
    for task in tasks:
        key = nesting_key(task.config)
        if key is not None:
            groups[key].append(task)
    nested: dict[RunTask, RunTask] = {}
    for members in groups.values():
        host = max(members, key=lambda t: t.config.train.epochs)
        shorter = [t for t in members if t.config.train.epochs < host.config.train.epochs]
        if not shorter:
            continue
        epochs = sorted({t.config.train.epochs for t in shorter})
        overrides = [*host.overrides, f"train.keep_weights_at=[{', '.join(map(str, epochs))}]"]
        every = min((t.config.train.eval_every for t in members if t.config.train.eval_every), default=0)
        if every != host.config.train.eval_every:  # each milestone's curve as dense as its own run's
            overrides = [o for o in overrides if not o.startswith("train.eval_every=")] + [f"train.eval_every={every}"]
        try:
            config = load_preset(host.preset, overrides)
        except ConfigError as err:
            raise StudyError(f"config {host.name!r}, nested with {', '.join(t.name for t in shorter)}: {err}") from None
        nested[host] = replace(host, overrides=tuple(overrides), config=config)
        for task in shorter:
            nested[task] = replace(task, preset=host.preset, overrides=tuple(overrides), path=host.path, host=host.name)
    return [nested.get(task, task) for task in tasks]


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
    if task.host is not None:
        return milestone_state(task, info, marker)
    if marker.get("state") == "running" and _alive(marker):
        return RunState("running", done, epochs, phase=marker.get("phase", ""), seconds=seconds, info=info)
    trained = info.get("status") == "complete"
    kept = [RunDir(task.path).eval_path(f"epoch-{e}") for e in task.config.train.keep_weights_at]
    if trained and all(path.is_file() for path in [task.eval_path, *kept]):
        return RunState("done", done, epochs, seconds=seconds, info=info)
    if marker.get("state") == "failed" or info.get("status") == "failed":
        detail = marker.get("error") or info.get("error") or "failed"
        return RunState("failed", done, epochs, detail, "eval" if trained else "train", seconds, info)
    if info or marker:
        return RunState("incomplete", done, epochs, "not scored yet" if trained else "cut short", seconds=seconds, info=info)
    return RunState("pending", 0, epochs)


def milestone_state(task: RunTask, info: dict[str, Any], marker: dict[str, Any]) -> RunState:
    """A milestone's state, from its run's: done once the run is past its epoch and the weights
    kept there are scored; its info is run.json as it stood then (`milestone_info`)."""
    epochs, done = task.config.train.epochs, int(info.get("epochs_done", 0))
    what = f"milestone {epochs} of {task.host}"
    reached, view = min(done, epochs), milestone_info(info, epochs) if info else {}
    seconds = sum(view.get("seconds_per_epoch") or []) or None
    if done >= epochs and task.eval_path.is_file():
        return RunState("done", reached, epochs, what, seconds=seconds, info=view)
    if marker.get("state") == "running" and _alive(marker):
        return RunState("running", reached, epochs, what, marker.get("phase", ""), seconds, view)
    if marker.get("state") == "failed" or info.get("status") == "failed":
        error = marker.get("error") or info.get("error") or "failed"
        return RunState("failed", reached, epochs, f"{what}: {error}", "eval" if done >= epochs else "train", seconds, view)
    if info or marker:
        return RunState("incomplete", reached, epochs, f"{what}: {'not scored yet' if done >= epochs else 'cut short'}", seconds=seconds, info=view)
    return RunState("pending", 0, epochs, what)


def study_states(study_dir: Path) -> tuple[StudyRecord, list[tuple[RunTask, RunState]]]:
    """The record of a study directory and the state of each of its runs."""
    record = read_record(study_dir)
    return record, [(task, run_state(task)) for task in plan(study_dir, record)]
