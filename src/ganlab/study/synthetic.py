"""Made-up study and run directories, laid out exactly as training and `ganlab eval` write them.

For testing the verdicts and the HTML report without training anything, and for trying the
report: `fake_study(dir, spec, seeds, scores)` writes study.yaml and, for each run, config.yaml,
run.json, metrics.jsonl (step, epoch and eval records), samples/epoch_XXX.png and eval.json with
the given final scores.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from ganlab.config import RunConfig, to_yaml
from ganlab.study.spec import StudyRecord, StudySpec, write_record
from ganlab.study.tasks import FLOOR, plan

Scores = Callable[[str, int], dict[str, float] | None]  # (config name, seed) -> final scores, or None


def fake_samples(epoch: int, seed: int, size: int = 28, n: int = 16) -> Image.Image:
    """A grid of blobs that sharpen with the epoch: something to look at, upscaled like the real ones."""
    rng = np.random.default_rng(seed)
    columns = int(math.sqrt(n))
    canvas = np.full((columns * (size + 2) + 2,) * 2, 40, dtype=np.uint8)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        cy, cx = rng.uniform(8, size - 8, 2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (2 + 20 / epoch) ** 2))
        noise = rng.uniform(0, 1, (size, size)) / (1 + epoch)
        r, c = divmod(i, columns)
        top, left = 2 + r * (size + 2), 2 + c * (size + 2)
        canvas[top : top + size, left : left + size] = (np.clip(blob + noise, 0, 1) * 255).astype(np.uint8)
    image = Image.fromarray(canvas)
    return image.resize((image.width * 2, image.height * 2), Image.NEAREST)


def fake_run(
    path: Path,
    config: RunConfig,
    scores: dict[str, float] | None,
    higher_is_better: dict[str, bool | None],
    floor: dict[str, float] | None = None,
    status: str = "complete",
    epochs_done: int | None = None,
    steps_per_epoch: int = 4,
    eval_every: int = 1,
    error: str = "",
    log: str = "",
) -> Path:
    """Write one run directory; `scores` None leaves out eval.json (a run not scored)."""
    epochs = config.train.epochs if epochs_done is None else epochs_done
    seed = config.train.seed
    rng = random.Random(f"{config.name}-{seed}")
    (path / "samples").mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(to_yaml(config))
    info: dict[str, Any] = {
        "name": config.name, "status": status, "created": "2025-01-01T00:00:00+00:00", "epochs_done": epochs,
        "steps": epochs * steps_per_epoch, "seconds_per_epoch": [round(1 + rng.random(), 3) for _ in range(epochs)],
        "events": [], "device": "cpu",
    }  # fmt: skip
    if error:
        info["error"] = error
    (path / "run.json").write_text(json.dumps(info, indent=2))
    records = []
    for epoch in range(1, epochs + 1):
        d, g = 0.6 + 0.3 * rng.random(), 1.0 + 0.8 * rng.random()
        for i in range(steps_per_epoch):
            step = (epoch - 1) * steps_per_epoch + i + 1
            records.append({"kind": "step", "epoch": epoch, "step": step, "x": epoch - 1 + (i + 1) / steps_per_epoch,
                            "d_loss": d + 0.1 * rng.random(), "g_loss": g + 0.1 * rng.random(),
                            "d_real": 0.7, "d_fake": 0.3, "d_grad_norm": 1.0, "g_grad_norm": 1.0})  # fmt: skip
        records.append({"kind": "epoch", "epoch": epoch, "step": epoch * steps_per_epoch, "d_loss": d, "g_loss": g,
                        "d_real": 0.6 + 0.1 * rng.random(), "d_fake": 0.3 + 0.1 * rng.random()})  # fmt: skip
        if scores and epoch % eval_every == 0:
            # Curves that approach the final scores.
            weight = epoch / config.train.epochs
            records.append({"kind": "eval", "epoch": epoch, "step": epoch * steps_per_epoch}
                           | {k: v * (2 - weight) if higher_is_better.get(k) is False else v * weight
                              for k, v in scores.items()})  # fmt: skip
        fake_samples(epoch, seed).save(path / "samples" / f"epoch_{epoch:03d}.png")
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if scores is not None:
        evaluation = {
            "run_dir": str(path), "which": "final", "n": 1000, "seed": 0, "dataset": config.data.dataset,
            "evaluator_sha256": "synthetic", "metrics": scores, "real_floor": floor or {},
            "higher_is_better": {k: higher_is_better.get(k) for k in scores}, "seconds": 0.1,
        }  # fmt: skip
        (path / "eval.json").write_text(json.dumps(evaluation, indent=2))
    if log:
        (path / "log.txt").write_text(log)
    return path


def fake_study(
    study_dir: Path,
    spec: StudySpec,
    seeds: int,
    scores: Scores,
    higher_is_better: dict[str, bool | None],
    floor: dict[str, float] | None = None,
    epochs_scale: float = 1.0,
    failed: dict[tuple[str, int], str] | None = None,
) -> StudyRecord:
    """A study directory whose runs have the given final scores; `failed` maps (config, seed) to
    an error message for runs that crashed (with a log and the marker the runner writes)."""
    record = StudyRecord(spec=spec, seeds=seeds, epochs_scale=epochs_scale, eval_n=1000)
    write_record(study_dir, record)
    failed = failed or {}
    tasks = plan(study_dir, record)
    for task in tasks:
        if not task.trains:
            continue
        error = failed.get((task.name, task.seed))
        if error:
            done = max(1, task.config.train.epochs // 2)
            fake_run(task.path, task.config, None, higher_is_better, status="failed", epochs_done=done, error=error,
                     log=f"=== attempt 1\nTraceback (most recent call last):\n  ...\nRuntimeError: {error}\n")  # fmt: skip
            (task.path / "study-run.json").write_text(
                json.dumps({"state": "failed", "attempt": 1, "exit_code": 1, "phase": "train", "error": error})
            )
        else:
            fake_run(task.path, task.config, scores(task.name, task.seed), higher_is_better, floor)
    for task in tasks:  # a milestone: the scores of the weights its (longer) run kept at its epoch
        if not task.trains and (task.name, task.seed) not in failed and task.path.is_dir():
            evaluation = json.loads((task.path / "eval.json").read_text()) if (task.path / "eval.json").is_file() else {}
            evaluation.update(which=f"epoch-{task.config.train.epochs}", metrics=scores(task.name, task.seed))
            task.eval_path.write_text(json.dumps(evaluation, indent=2))
    if floor:
        dataset = next(iter(plan(study_dir, record))).config.data.dataset
        (study_dir / FLOOR).write_text(json.dumps({dataset: {"n": 1000, "metrics": floor, "higher_is_better": higher_is_better}}))
    return record
