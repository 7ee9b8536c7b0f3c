"""Study throughput: run-epochs per hour for a batch of runs, done one after another (naive)
against packed ways of keeping every core busy.

- naive: one run at a time in this process, with all of torch's threads (what the issue calls
  naive, and the reference for `speedup`); naive-1t: the same with one thread;
- processes: one worker process per core, one thread each, its share of the runs one after another;
- stacked: one worker process per core, one thread each, its share of the runs as one stacked
  model (`ganlab.train.stacked`);
- stacked-1p: all the runs as one stacked model in this process, with all threads.

On a GPU only naive and stacked-1p are measured (worker processes would share one device).
Timing is interleaved like the step benchmark: each round times `steps` steps of every strategy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from ganlab.bench.runner import Case, Spread, ganlab_case, interleave
from ganlab.config import RunConfig
from ganlab.train.stacked import StackedData, build_stacked, stacked_train_step


def stacked_case(configs: list[RunConfig], images: torch.Tensor, device: torch.device) -> Case:
    """K runs as one stacked model, fed as `train_stacked` feeds it."""
    sgan = build_stacked(configs, device)
    data = StackedData(configs, images.to(device).unsqueeze(0))
    batch = configs[0].train.batch_size
    steps_per_epoch = -(-data.n // batch)
    state = {"i": steps_per_epoch}

    def run(n: int) -> None:
        stats = []
        for _ in range(n):
            if state["i"] == steps_per_epoch:
                data.shuffle(sgan.generators)
                state["i"] = 0
            i = state["i"]
            stats.append(stacked_train_step(sgan, data.batch(i * batch, (i + 1) * batch)))
            state["i"] = i + 1
        torch.stack(stats).cpu()

    return run


def sequential_case(configs: list[RunConfig], images: torch.Tensor, device: torch.device) -> Case:
    """Several single runs, each advanced by n steps in turn (what one worker does without stacking)."""
    cases = [ganlab_case(c, images.to(device), device) for c in configs]

    def run(n: int) -> None:
        for case in cases:
            case(n)

    return run


class WorkerPool:
    """`workers` processes (`python -m ganlab.bench.study`) with one thread each, each holding its
    share of `configs` twice: as separate runs ("processes") and as one stacked model ("stacked").

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

    def case(self, strategy: str) -> Case:
        """Time n steps of every worker's runs, all workers at once."""

        def run(n: int) -> None:
            for process in self.processes:
                self._send(process, f"{strategy} {n}")
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
    """A WorkerPool process: set up from the first stdin line, then run `<strategy> <n>` commands."""
    from ganlab.train.allocator import keep_freed_memory
    from ganlab.cli.bench import bench_images

    keep_freed_memory()  # as the parent runs
    torch.set_num_threads(1)
    setup = json.loads(sys.stdin.readline())
    configs = [RunConfig.model_validate(c) for c in setup["configs"]]
    images, _ = bench_images(setup["data_dir"] and Path(setup["data_dir"]))
    device = torch.device("cpu")
    runs = {"stacked": stacked_case(configs, images, device), "processes": sequential_case(configs, images, device)}
    for run in runs.values():
        run(1)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        strategy, n = line.split()
        runs[strategy](int(n))
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
    images: torch.Tensor,
    device: torch.device,
    steps: int,
    repeats: int,
    workers: int | None = None,
    between: Callable[[], None] | None = None,
    data_dir: Path | None = None,
) -> dict:
    """Run-epochs per hour of each strategy for `configs` (stackable runs), with its spread.

    `images` are the training images of the in-process strategies; worker processes load theirs
    the same way (`bench_images(data_dir)`).

    Returns {"runs", "workers", "strategies": {name: {"epochs_per_hour": {median, min, max},
    "how": ...}}, "naive_epochs_per_hour", "packed_epochs_per_hour", "packed", "speedup"}.
    """
    runs = len(configs)
    steps_per_epoch = -(-len(images) // configs[0].train.batch_size)
    workers = workers or min(os.cpu_count() or 1, runs)
    threads = torch.get_num_threads()
    how = {
        "naive": f"{runs} runs one after another, 1 process x {threads} threads",
        "naive-1t": f"{runs} runs one after another, 1 process x 1 thread",
        "stacked-1p": f"{runs} runs stacked, 1 process x {threads} threads",
    }
    cases: dict[str, Case] = {
        "naive": ganlab_case(configs[0], images.to(device), device),
        "naive-1t": _one_thread(ganlab_case(configs[0], images.to(device), device)),
        "stacked-1p": stacked_case(configs, images, device),
    }
    # Work per timed call, in run-steps: the naive ways advance one run, the others all of them.
    work = {"naive": 1, "naive-1t": 1, "stacked-1p": runs}
    pool = None
    try:
        if device.type == "cpu" and workers > 1:
            pool = WorkerPool(configs, data_dir, workers)
            for name in ("processes", "stacked"):
                cases[name], work[name] = pool.case(name), runs
            per_worker = -(-runs // workers)
            how["processes"] = f"{workers} processes x 1 thread, {per_worker} runs each one after another"
            how["stacked"] = f"{workers} processes x 1 thread, {per_worker} runs each stacked"
        seconds = interleave(cases, steps, repeats, warmup=1, between=between)
    finally:
        if pool is not None:
            pool.close()
    strategies = {}
    for name, values in seconds.items():
        rates = Spread.of([3600 * work[name] / (s * steps_per_epoch) for s in values])
        strategies[name] = {"epochs_per_hour": rates._asdict(), "how": how[name]}
    naive = strategies["naive"]["epochs_per_hour"]["median"]
    packed = max(
        (n for n in strategies if not n.startswith("naive")), key=lambda n: strategies[n]["epochs_per_hour"]["median"]
    )
    best = strategies[packed]["epochs_per_hour"]["median"]
    return {
        "runs": runs,
        "workers": workers,
        "steps_per_epoch": steps_per_epoch,
        "strategies": strategies,
        "naive_epochs_per_hour": naive,
        "packed_epochs_per_hour": best,
        "packed": packed,
        "speedup": best / naive,
    }


if __name__ == "__main__":
    _worker_main()
