"""Starting the runs of a study: each in its own worker process (`python -m ganlab.api.worker`),
its output in RUN_DIR/log.txt and the runner's record in RUN_DIR/study-run.json, started from a
thread pool or as Ray tasks; and the real-data floor, computed once by the same worker."""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ganlab.files import atomic_write_json, read_json, utc_now
from ganlab.study.spec import StudyError
from ganlab.study.tasks import LOG, MARKER, RunTask

# The worker is named, never imported: it belongs to the API layer above this one.
WORKER = "ganlab.api.worker"


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
    """`python -m ganlab.api.worker RUN_DIR --preset P --set ...`: train or resume, then eval."""
    command = [sys.executable, "-m", WORKER, str(task.path), "--preset", task.preset]
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


def cause_of_death(code: int) -> str:
    """What ended a worker, from its exit status: `killed by signal 9 (SIGKILL)` or `exit code 2`."""
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by signal {-code} ({signal.Signals(-code).name})"
    except ValueError:  # a number this platform has no name for
        return f"killed by signal {-code}"


def last_error(log: Path, offset: int = 0) -> str:
    """The line of a worker's log, from byte `offset` on (its attempt), that says what went wrong:
    the last `error:` line, else the last line of the last traceback; "" when there is none (a
    killed worker's last line is its progress, not a cause)."""
    try:
        with log.open("rb") as stream:
            stream.seek(offset)
            lines = stream.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    lines = [line for line in lines if not line.startswith("===")]  # the runner's own lines
    errors = [line[len("error:") :].strip() for line in lines if line.startswith("error:")]
    if errors:
        return errors[-1]
    tracebacks = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not tracebacks:
        return ""
    # The exception's own line: the last unindented one after the frames ("ValueError: ...").
    tail = [line.strip() for line in lines[tracebacks[-1] + 1 :] if line.strip() and not line[0].isspace()]
    return tail[-1] if tail else ""


def failure(code: int, log: Path, offset: int = 0) -> str:
    """"" for exit code 0, else the cause of death and the last error line of the log."""
    if code == 0:
        return ""
    error = last_error(log, offset)
    return f"{cause_of_death(code)}: {error}" if error else cause_of_death(code)


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
        offset = log.tell()  # this attempt's output starts here
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
    error = failure(exit_code, log_path, offset)
    return _finish(task, marker_path, attempt, started, start, exit_code, error)


def _finish(task: RunTask, marker: Path, attempt: int, started: str, start: float, code: int, error: str) -> Outcome:
    seconds = time.perf_counter() - start
    info_path = task.path / "run.json"
    info = read_json(info_path)
    # Ctrl-C or a kill by the user (SIGINT, SIGTERM): not a failure of the run, which resumes.
    interrupted = code in (-signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT, 128 + signal.SIGTERM)
    if code != 0 and info is not None and info.get("status") == "running":
        # The process died without saying so (killed, out of memory): record it in run.json too.
        info.update(status="interrupted" if interrupted else "failed", ended=utc_now(), error=f"worker {error}")
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


def compute_floor(study_dir: Path, options: Options) -> str:
    """Run `python -m ganlab.api.worker --floor STUDY_DIR` with every CPU thread (no run has
    started yet); its output goes to STUDY_DIR/floor-log.txt. Returns "" or the error; a failure
    (no evaluator, no MNIST) does not stop the study: each run's evaluation then says why."""
    command = [sys.executable, "-m", WORKER, "--floor", str(study_dir),
               "--eval-n", str(options.eval_n), "--threads", str(os.cpu_count() or 1)]  # fmt: skip
    if options.data_dir is not None:
        command += ["--data-dir", str(options.data_dir)]
    if options.device:
        command += ["--device", options.device]
    log_path = Path(study_dir) / "floor-log.txt"
    with log_path.open("a") as log:
        log.write(f"=== {utc_now()}: {' '.join(command)}\n")
        log.flush()
        offset = log.tell()
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
        log.write(f"=== exit code {code}, {utc_now()}\n")
    return failure(code, log_path, offset)
