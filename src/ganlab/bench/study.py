"""Study throughput: run-epochs per hour for a batch of runs, done one after another (naive)
against packed into worker processes that keep every core busy.

- naive: one run at a time in this process, with all of torch's threads (the reference for
  `speedup`); naive-1t: the same with one thread;
- processes: one worker process per core, one thread each, its share of the runs one after
  another. This is how the study runner packs runs.

Batched K-run training (one model holding K runs, `torch.func.vmap` or hand-stacked layers) was
measured against processes on the study's FC runs and was no faster on a CPU (README,
Performance), so it is not offered. On a GPU only the naive ways are measured (worker processes would
share one device). Timing is interleaved like the step benchmark: each round times `steps` steps of
every strategy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from ganlab.bench.runner import BenchData, Case, Spread, bench_data, ganlab_case, interleave, steps_per_epoch
from ganlab.config import RunConfig


def sequential_case(configs: list[RunConfig], data: BenchData, device: torch.device) -> Case:
    """Several single runs, each advanced by n steps in turn (what one worker does with its share)."""
    cases = [ganlab_case(c, data, device) for c in configs]

    def run(n: int) -> None:
        for case in cases:
            case(n)

    return run


class WorkerPool:
    """`workers` processes (`python -m ganlab.bench.study`) with one thread each, each holding its
    share of `configs` as separate runs, trained one after another.

    Plain subprocesses on pipes, not multiprocessing: a spawned child would re-run the caller's
    unguarded main script, and fork is unsafe once OpenMP threads have started.
    """

    def __init__(self, configs: list[RunConfig], data_dir: Path | None, workers: int):
        self.processes: list[subprocess.Popen] = []
        for share in (configs[i::workers] for i in range(workers)):
            process = subprocess.Popen(
                [sys.executable, "-m", "ganlab.bench.study"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
            )
            self.processes.append(process)
            setup = {"configs": [c.model_dump(mode="json") for c in share], "data_dir": data_dir and str(data_dir)}
            self._send(process, json.dumps(setup))
        for process in self.processes:
            self._expect(process, "ready")  # built and warmed up

    @staticmethod
    def _send(process: subprocess.Popen, line: str) -> None:
        assert process.stdin is not None
        process.stdin.write(line + "\n")
        process.stdin.flush()

    @staticmethod
    def _expect(process: subprocess.Popen, word: str) -> None:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if line != word:
            raise RuntimeError(f"bench worker {process.pid} answered {line!r}, not {word!r} (see its stderr)")

    def case(self) -> Case:
        """n steps of every worker's runs, all workers at once."""

        def run(n: int) -> None:
            for process in self.processes:
                self._send(process, f"steps {n}")
            for process in self.processes:
                self._expect(process, "done")

        return run

    def close(self) -> None:
        for process in self.processes:
            try:
                self._send(process, "quit")
                process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()


def _worker_main() -> None:
    """A WorkerPool process: set up from the first stdin line, then run `steps <n>` commands."""
    from ganlab.train.allocator import keep_freed_memory

    keep_freed_memory()  # as the parent runs
    torch.set_num_threads(1)
    setup = json.loads(sys.stdin.readline())
    configs = [RunConfig.model_validate(c) for c in setup["configs"]]
    data = bench_data(setup["data_dir"] and Path(setup["data_dir"]))
    run = sequential_case(configs, data, torch.device("cpu"))
    run(1)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        _, n = line.split()
        run(int(n))
        print("done", flush=True)


def _one_thread(case: Case) -> Case:
    def run(n: int) -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            case(n)
        finally:
            torch.set_num_threads(threads)

    return run


def study_throughput(
    configs: list[RunConfig],
    data: BenchData,
    device: torch.device,
    steps: int,
    repeats: int,
    workers: int | None = None,
    between: Callable[[], None] | None = None,
    data_dir: Path | None = None,
) -> dict:
    """Run-epochs per hour of each strategy for `configs` (runs of one batch size), with its spread.

    `data` is what the in-process strategies train on; worker processes load theirs the same way
    (`bench_data(data_dir)`).

    Returns {"runs", "workers", "steps_per_epoch", "strategies": {name: {"epochs_per_hour":
    {median, min, max}, "how": ...}}, "naive_epochs_per_hour", "packed_epochs_per_hour", "packed",
    "speedup"}; the last three are None when no worker processes ran.
    """
    runs = len(configs)
    per_epoch = steps_per_epoch(configs[0], len(data.images))
    workers = workers or min(os.cpu_count() or 1, runs)
    threads = torch.get_num_threads()
    how = {
        "naive": f"{runs} runs one after another, 1 process x {threads} threads",
        "naive-1t": f"{runs} runs one after another, 1 process x 1 thread",
    }
    cases: dict[str, Case] = {
        "naive": ganlab_case(configs[0], data, device),
        "naive-1t": _one_thread(ganlab_case(configs[0], data, device)),
    }
    # Work per timed call, in run-steps: the naive ways advance one run, the workers all of them.
    work = {"naive": 1, "naive-1t": 1}
    pool = None
    try:
        if device.type == "cpu" and workers > 1:
            pool = WorkerPool(configs, data_dir, workers)
            cases["processes"], work["processes"] = pool.case(), runs
            per_worker = -(-runs // workers)
            how["processes"] = f"{workers} processes x 1 thread, {per_worker} runs each one after another"
        seconds = interleave(cases, steps, repeats, warmup=1, between=between)
    finally:
        if pool is not None:
            pool.close()
    strategies = {}
    for name, values in seconds.items():
        rates = Spread.of([3600 * work[name] / (s * per_epoch) for s in values])
        strategies[name] = {"epochs_per_hour": rates._asdict(), "how": how[name]}
    naive = strategies["naive"]["epochs_per_hour"]["median"]
    # Packed is the worker processes; without them (a GPU, one core) nothing was packed.
    packed = strategies["processes"]["epochs_per_hour"]["median"] if "processes" in strategies else None
    return {
        "runs": runs,
        "workers": workers,
        "steps_per_epoch": per_epoch,
        "strategies": strategies,
        "naive_epochs_per_hour": naive,
        "packed_epochs_per_hour": packed,
        "packed": "processes" if packed else None,
        "speedup": packed / naive if packed else None,
    }

if __name__ == "__main__":
    _worker_main()
