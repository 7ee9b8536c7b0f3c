"""What a training run prints: the bar counts the epoch it names, and the epoch lines are plain."""

from __future__ import annotations

import io

import torch
from rich.console import Console

from ganlab.train.progress import Progress


def test_the_bar_counts_the_epochs_steps_and_prints_plain_epoch_lines():
    out = io.StringIO()
    bar = Progress("bar", total_epochs=2, done_epochs=0, steps_per_epoch=5)
    bar.console = Console(file=out, width=100, force_terminal=True)
    names = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")
    with bar:
        task = bar._bar.tasks[0]
        assert (task.total, task.completed, task.fields["epoch"]) == (5, 0, 1)
        for _ in range(5):
            bar.step(torch.ones(len(names)), names)
        assert task.completed == 5
        means = dict(zip(names, [0.4123, 1.2345, 0.734, 0.266, 3.1, 2.7]))
        bar.epoch_done(1, means, {"fid": 73.81, "coverage": 0.4412, "classes_covered": 9.0}, 31.3)
        assert (task.total, task.completed, task.fields["epoch"]) == (5, 0, 2)
        bar.warn("step 1000 (epoch 3): collapse: 2 of 10 classes covered (< 8) -> collapsed")
    [line] = {line for line in out.getvalue().splitlines() if "epoch 1/2  D 0" in line}
    line = line[line.index("epoch 1/2") :].rstrip()
    assert line == (
        "epoch 1/2  D 0.4123  G 1.2345  D(x) 0.734  D(G(z)) 0.266  31.3s  fid 73.8  coverage 0.441  classes 9"
    )
    assert len(line) <= 100
    assert "progress.py" not in out.getvalue()
