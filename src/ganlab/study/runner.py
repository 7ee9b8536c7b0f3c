"""Run a study: every config of its experiments for every seed, each run in its own process.

Layout of a study directory:

    study.yaml                      the resolved spec, seeds, epochs scale, eval n (`spec.StudyRecord`)
    floor.json                      the real-data floor per dataset (the worker's --floor, once)
    runs/<config>/seed-<k>/         a normal run directory (config.yaml, run.json, metrics.jsonl, ...)
        log.txt                     the worker's stdout and stderr, one block per attempt
        study-run.json              the runner's record: state, pid, host, exit code, error

Every run is a subprocess (`python -m ganlab.api.worker`) started from a thread pool
(`concurrent.futures`), with OMP_NUM_THREADS and torch threads set to its share of the CPU, so
that a crash ends one run and the others go on. The state of a run is read back from its
directory only, so running the study again does exactly the runs that are missing, cut short or
failed, and `ganlab study status` works from another shell while the study runs.

The runs and their states are in `ganlab.study.tasks`, starting them in `ganlab.study.launch`.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ganlab.files import atomic_write_json, read_json
from ganlab.study.launch import BACKENDS, Options, Outcome, compute_floor
from ganlab.study.spec import StudyError, StudyRecord, StudySpec, read_record, write_record
from ganlab.study.tasks import FLOOR, TO_RUN, RunState, RunTask, plan, read_info, run_state

# The study -------------------------------------------------------------------------------------


@contextmanager
def study_lock(study_dir: Path) -> Iterator[None]:
    """One `study run` per study directory at a time (an advisory lock on `.lock`)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    study_dir.mkdir(parents=True, exist_ok=True)
    with (study_dir / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StudyError(f"another `ganlab study run` is working on {study_dir}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare(
    study_dir: Path,
    spec: StudySpec | None,
    seeds: int | None,
    epochs_scale: float | None,
    eval_n: int | None,
) -> StudyRecord:
    """The study record to run: a new one, or the one in `study_dir` (updated with new seeds or a
    changed spec). Changing the epochs scale or eval n of an existing study is refused: its
    finished runs would no longer be comparable with the new ones."""
    existing = read_record(study_dir) if (study_dir / "study.yaml").is_file() else None
    if existing is None:
        if spec is None:
            raise StudyError(f"{study_dir} is not a study directory (no study.yaml); give a study name or spec file")
        return StudyRecord(spec=spec, seeds=seeds or 3, epochs_scale=epochs_scale or 1.0, eval_n=eval_n or 10000)
    for option, given, stored in (("--epochs-scale", epochs_scale, existing.epochs_scale), ("--eval-n", eval_n, existing.eval_n)):
        if given is not None and given != stored:
            raise StudyError(
                f"{study_dir} was run with {option} {stored}, got {given}: "
                f"drop {option} to resume it, or choose another --out"
            )
    if spec is not None and spec.name != existing.spec.name:
        raise StudyError(
            f"{study_dir} holds study {existing.spec.name!r}, not {spec.name!r}: choose another --out"
        )
    if seeds is not None and seeds < existing.seeds:  # its seeds k >= seeds would silently leave the verdicts
        raise StudyError(
            f"{study_dir} has {existing.seeds} seeds, got --seeds {seeds}: seeds are only added "
            f"(--seeds {existing.seeds + 1} or more), or drop --seeds to resume it"
        )
    return existing.model_copy(update={"spec": spec or existing.spec, "seeds": seeds or existing.seeds})


@dataclass
class StudyResult:
    record: StudyRecord
    tasks: list[RunTask]
    ran: list[Outcome]
    skipped: list[tuple[RunTask, RunState]]  # done or running elsewhere, or stale

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.ran if not o.ok]


def run_study(
    study_dir: Path,
    record: StudyRecord,
    options: Options,
    backend: str = "local",
    on_event: Callable[[str, RunTask, Any], None] | None = None,
    poll_seconds: float = 1.0,
) -> StudyResult:
    """Run every missing, cut-short or failed run of the study; returns what ran and how.

    on_event(kind, task, payload) is called with kind "start" (payload: RunState), "progress"
    (payload: epochs done over all runs), "end" (payload: Outcome), and "floor" then
    "floor-done" (payload: "" or the error) around the real-data floor of an MNIST study.
    """
    if backend not in BACKENDS:
        raise StudyError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    study_dir = Path(study_dir)
    notify = on_event or (lambda kind, task, payload: None)
    with study_lock(study_dir):
        tasks = plan(study_dir, record)  # validates every config before anything is written
        states = {task: run_state(task) for task in tasks}
        # A milestone is never run: the longer run it belongs to trains and scores it.
        todo = [t for t in tasks if t.trains and states[t].state in TO_RUN]
        skipped = [(t, states[t]) for t in tasks if t.trains and states[t].state not in TO_RUN]
        # The longest runs first, so that the study does not end waiting on one long run.
        todo.sort(key=lambda t: (-t.config.train.epochs, t.seed, t.name))
        submit, shutdown = BACKENDS[backend](options) if todo else (None, lambda: None)
        ran: list[Outcome] = []
        try:
            write_record(study_dir, record)
            if needs_floor(todo, read_json(study_dir / FLOOR) or {}):
                notify("floor", None, None)  # type: ignore[arg-type]
                notify("floor-done", None, compute_floor(study_dir, options))  # type: ignore[arg-type]
            futures = {}
            for task in todo:
                notify("start", task, states[task])
                futures[submit(task, options)] = task  # type: ignore[misc]
            pending = set(futures)
            while pending:
                finished, pending = cf.wait(pending, timeout=poll_seconds, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    outcome = future.result()
                    ran.append(outcome)
                    notify("end", outcome.task, outcome)
                notify("progress", None, epochs_done(tasks))  # type: ignore[arg-type]
        finally:
            shutdown()
        write_floor(study_dir, tasks)
    return StudyResult(record, tasks, ran, skipped)


def needs_floor(tasks: list[RunTask], floors: dict[str, Any]) -> bool:
    """Whether a task's dataset is scored by the MNIST evaluator (the floor that the worker's
    --floor computes) and floor.json, keyed by dataset, has no floor for it yet."""
    from ganlab.data.registry import dataset_spec  # torch: only when there are runs to start
    from ganlab.metrics.scorers import uses_evaluator

    return any(
        uses_evaluator(dataset_spec(t.config.data.dataset).scorer) and t.config.data.dataset not in floors for t in tasks
    )


def epochs_done(tasks: list[RunTask]) -> int:
    """Epochs trained over all runs, read from their run.json files (none of a damaged one); a
    milestone's epochs are its run's."""
    return sum(
        min(read_info(task.path)[0].get("epochs_done", 0), task.config.train.epochs) for task in tasks if task.trains
    )


def write_floor(study_dir: Path, tasks: list[RunTask]) -> dict[str, Any]:
    """floor.json: the real-data floor per dataset, taken once from the first eval.json that has
    one (`ganlab eval` scores n real images beside the model). Returns what floor.json holds."""
    path = Path(study_dir) / FLOOR
    floors = read_json(path) or {}
    for task in tasks:
        dataset = task.config.data.dataset
        if dataset in floors:
            continue
        scores = read_json(task.path / "eval.json") or {}
        if scores.get("real_floor"):
            floors[dataset] = {
                "n": scores.get("n"),
                "metrics": scores["real_floor"],
                "higher_is_better": scores.get("higher_is_better", {}),
                "evaluator_sha256": scores.get("evaluator_sha256"),
                "source": str(task.path.relative_to(study_dir) / "eval.json"),
            }
    if floors:
        atomic_write_json(path, floors)
    return floors


def default_threads(workers: int) -> int:
    """cpu_count // workers, at least 1: each worker's share of the CPU."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))
