"""Run a study: every config of its experiments for every seed, each run in its own process.

Layout of a study directory:

    study.yaml                      the resolved spec, seeds, epochs scale, eval n (`spec.StudyRecord`)
    floor.json                      the real-data floor per dataset (the worker's --floor, once)
    runs/<config>/seed-<k>/         a normal run directory (config.yaml, run.json, metrics.jsonl, ...)
        log.txt                     the worker's stdout and stderr, one block per attempt
        study-run.json              the runner's record: state, pid, host, exit code, error

Every run is a subprocess (`python -m ganlab.study.worker`) started from a thread pool
(`concurrent.futures`), with OMP_NUM_THREADS and torch threads set to its share of the CPU, so
that a crash ends one run and the others go on. The state of a run is read back from its
directory only, so running the study again does exactly the runs that are missing, cut short or
failed, and `ganlab study status` works from another shell while the study runs.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from ganlab.config import RunConfig
from ganlab.files import atomic_write_json, read_json, utc_now
from ganlab.study.spec import StudyError, StudyRecord, StudySpec, read_record, resolve_config, run_overrides, write_record

State = Literal["done", "running", "failed", "stale", "incomplete", "pending"]
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


def run_state(task: RunTask) -> RunState:
    """done (trained and scored), running, failed, stale (its config is not the study's),
    incomplete (started, cut short or not yet scored) or pending (never started)."""
    info = read_json(task.path / "run.json") or {}
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


# Executing one run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """How to run: worker processes, threads for each, evaluation size, data and device."""

    workers: int = 1
    threads: int = 1
    eval_n: int = 10000
    data_dir: Path | None = None
    device: str | None = None


def worker_command(task: RunTask, options: Options) -> list[str]:
    """`python -m ganlab.study.worker RUN_DIR --preset P --set ...`: train or resume, then eval."""
    command = [sys.executable, "-m", "ganlab.study.worker", str(task.path), "--preset", task.preset]
    for override in task.overrides:
        command += ["--set", override]
    command += ["--threads", str(options.threads), "--eval-n", str(options.eval_n)]
    if options.data_dir is not None:
        command += ["--data-dir", str(options.data_dir)]
    if options.device:
        command += ["--device", options.device]
    return command


@dataclass(frozen=True)
class Outcome:
    task: RunTask
    ok: bool
    exit_code: int
    seconds: float
    error: str = ""


def _last_error(log: Path) -> str:
    """The line that says what went wrong: the last `error:` line, else the traceback's last line."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    lines = [line for line in lines if not line.startswith("===")]  # the runner's own lines
    for line in reversed(lines):
        if line.startswith("error:"):
            return line[len("error:") :].strip()
    return lines[-1] if lines else ""


def execute(task: RunTask, options: Options) -> Outcome:
    """Run one task in a subprocess; its output goes to RUN_DIR/log.txt. Never raises for a
    failed run: the failure is recorded in the run directory and returned."""
    task.path.mkdir(parents=True, exist_ok=True)
    marker_path, log_path = task.path / MARKER, task.path / LOG
    previous = read_json(marker_path) or {}
    attempt = int(previous.get("attempt", 0)) + 1
    command = worker_command(task, options)
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(options.threads)
    env["PYTHONUNBUFFERED"] = "1"
    started, start = utc_now(), time.perf_counter()
    with log_path.open("a") as log:
        log.write(f"=== attempt {attempt}, {started}, {socket.gethostname()}: {' '.join(command)}\n")
        log.flush()
        try:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        except OSError as err:
            log.write(f"error: cannot start the worker: {err}\n")
            return _finish(task, marker_path, attempt, started, start, 127, f"cannot start the worker: {err}")
        atomic_write_json(
            marker_path,
            {"state": "running", "attempt": attempt, "pid": process.pid, "host": socket.gethostname(),
             "started": started, "command": command, **task.recipe},
        )  # fmt: skip
        exit_code = process.wait()
        log.write(f"=== exit code {exit_code}, {utc_now()}\n")
    error = "" if exit_code == 0 else _last_error(log_path) or f"exit code {exit_code}"
    return _finish(task, marker_path, attempt, started, start, exit_code, error)


def _finish(task: RunTask, marker: Path, attempt: int, started: str, start: float, code: int, error: str) -> Outcome:
    seconds = time.perf_counter() - start
    info_path = task.path / "run.json"
    info = read_json(info_path)
    # Ctrl-C or a kill by the user (SIGINT, SIGTERM): not a failure of the run, which resumes.
    interrupted = code in (-signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT, 128 + signal.SIGTERM)
    if code != 0 and info is not None and info.get("status") == "running":
        # The process died without saying so (killed, out of memory): record it in run.json too.
        info.update(status="interrupted" if interrupted else "failed", ended=utc_now(), error=f"worker exit code {code}: {error}")
        atomic_write_json(info_path, info)
    trained = info is not None and info.get("status") == "complete"
    atomic_write_json(
        marker,
        {"state": "done" if code == 0 else "interrupted" if interrupted else "failed", "attempt": attempt, "exit_code": code,
         "phase": "eval" if trained else "train", "started": started, "ended": utc_now(),
         "seconds": round(seconds, 1), "error": error, "log": LOG, **task.recipe},
    )  # fmt: skip
    return Outcome(task, code == 0, code, seconds, error)


# Backends: where the subprocesses are started from ---------------------------------------------


def local_submit(options: Options) -> tuple[Callable[[RunTask, Options], cf.Future], Callable[[], None]]:
    """A thread pool of `workers` threads, each waiting on one worker process at a time."""
    pool = cf.ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="ganlab-study")
    return (lambda task, options: pool.submit(execute, task, options)), (lambda: pool.shutdown(wait=True, cancel_futures=True))


def ray_submit(options: Options) -> tuple[Callable[[RunTask, Options], cf.Future], Callable[[], None]]:
    """Ray tasks (`pip install 'ganlab[ray]'`), each starting the same worker subprocess with
    `threads` CPUs reserved; RAY_ADDRESS selects a cluster, whose nodes must share the study
    directory's file system. Without RAY_ADDRESS a local Ray starts with workers x threads CPUs."""
    try:
        import ray  # noqa: PLC0415 - optional extra
    except ImportError:
        raise StudyError("the ray backend needs Ray: pip install 'ganlab[ray]' (or use --backend local)") from None
    started_here = not ray.is_initialized()
    if started_here:
        address = os.environ.get("RAY_ADDRESS")
        cpus = None if address else options.workers * options.threads
        ray.init(address=address, num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(execute)

    def submit(task: RunTask, options: Options) -> cf.Future:
        return remote.options(num_cpus=options.threads).remote(task, options).future()

    return submit, (lambda: ray.shutdown() if started_here else None)


BACKENDS = {"local": local_submit, "ray": ray_submit}


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
        todo = [t for t in tasks if states[t].state in TO_RUN]
        skipped = [(t, states[t]) for t in tasks if states[t].state not in TO_RUN]
        # The longest runs first, so that the study does not end waiting on one long run.
        todo.sort(key=lambda t: (-t.config.train.epochs, t.seed, t.name))
        submit, shutdown = BACKENDS[backend](options) if todo else (None, lambda: None)
        ran: list[Outcome] = []
        try:
            write_record(study_dir, record)
            if any(t.config.data.dataset == "mnist" for t in todo) and "mnist" not in (read_json(study_dir / FLOOR) or {}):
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


def compute_floor(study_dir: Path, options: Options) -> str:
    """Run `python -m ganlab.study.worker --floor STUDY_DIR` with every CPU thread (no run has
    started yet); its output goes to STUDY_DIR/floor-log.txt. Returns "" or the error; a failure
    (no evaluator, no MNIST) does not stop the study: each run's evaluation then says why."""
    command = [sys.executable, "-m", "ganlab.study.worker", "--floor", str(study_dir),
               "--eval-n", str(options.eval_n), "--threads", str(os.cpu_count() or 1)]  # fmt: skip
    if options.data_dir is not None:
        command += ["--data-dir", str(options.data_dir)]
    if options.device:
        command += ["--device", options.device]
    log_path = Path(study_dir) / "floor-log.txt"
    with log_path.open("a") as log:
        log.write(f"=== {utc_now()}: {' '.join(command)}\n")
        log.flush()
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
        log.write(f"=== exit code {code}, {utc_now()}\n")
    return "" if code == 0 else (_last_error(log_path) or f"exit code {code}")


def epochs_done(tasks: list[RunTask]) -> int:
    """Epochs trained over all runs, read from their run.json files."""
    total = 0
    for task in tasks:
        info = read_json(task.path / "run.json") or {}
        total += min(int(info.get("epochs_done", 0) or 0), task.config.train.epochs)
    return total


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


def study_states(study_dir: Path) -> tuple[StudyRecord, list[tuple[RunTask, RunState]]]:
    """The record of a study directory and the state of each of its runs."""
    record = read_record(study_dir)
    return record, [(task, run_state(task)) for task in plan(study_dir, record)]


def default_threads(workers: int) -> int:
    """cpu_count // workers, at least 1: each worker's share of the CPU."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))
