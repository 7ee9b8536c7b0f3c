"""The time a study takes, in the terminal: the dry run's plan with each run's estimate and the
wall time (`ganlab.bench.estimate`), and the ETA column of `study run`'s progress bar."""

from __future__ import annotations

import shlex
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import ProgressColumn, Task
from rich.table import Table
from rich.text import Text

from ganlab.bench.estimate import RunEstimate, Timings, duration, eta, summary


class EtaColumn(ProgressColumn):
    """'ETA 1 h 05 min': the time left at this session's pace, over the work still to do (task
    fields `work`, `work_start`, `work_total`: epochs weighted by their timed cost)."""

    def render(self, task: Task) -> Text:
        fields = task.fields
        left = eta(task.elapsed or 0.0, fields["work"], fields["work_start"], fields["work_total"])
        return Text(f"ETA {duration(left)}" if left is not None else "ETA -", style="progress.remaining")


def print_plan(
    console: Console, tasks: list[Any], states: list[Any], estimates: dict[Any, RunEstimate], timings: Timings, options: Any
) -> None:
    """The dry run's table (each run's recipe and time still needed) and the wall time."""
    table = Table("config", "seed", "epochs", "state", "est.", "ganlab train ...", title="plan (dry run)")
    for task, state in zip(tasks, states):
        # Quoted for a shell and escaped for rich: a list value is [a, b], which rich would eat.
        command = " ".join(["--preset", task.preset, *(f"--set {shlex.quote(o)}" for o in task.overrides)])
        if not task.trains:  # trained and timed once, as its run
            command = f"→ milestone {task.config.train.epochs} of {task.host} seed {task.seed}"
        est = duration(estimates[task].total) if task in estimates else "-"
        table.add_row(task.name, str(task.seed), str(task.config.train.epochs), state.state, est, escape(command))
    console.print(table)
    total = summary(list(estimates.values()), options.workers, options.threads)
    console.print(
        f"estimated wall time on this machine: {duration(total['wall'])} ({options.workers} x {options.threads}-thread "
        f"workers; {duration(total['worker'])} of runs: training {duration(total['train'])}, evaluation "
        f"{duration(total['eval'])}), timed now on {len(timings.step)} architectures (other jobs here slow it)",
        highlight=False,
    )
    for note in timings.notes:
        console.print(f"note: {escape(note)}", highlight=False)
