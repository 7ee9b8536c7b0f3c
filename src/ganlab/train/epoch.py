"""What the loop does at the end of each epoch, one plainly named function per job, in an order
that survives a kill at any point: records and pictures first, then the checkpoint, then the
`best` copy (`train()` calls them in that order)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from ganlab.files import atomic_copy
from ganlab.metrics.trend import run_trend
from ganlab.pictures import image_grid, save_png, scatter_2d
from ganlab.rundir import RunDir
from ganlab.train.bundle import Bundle
from ganlab.train.checkpoint import checkpoint_epoch, save_checkpoint, save_weights
from ganlab.train.evaluation import is_better
from ganlab.train.rng import rng_state
from ganlab.train.sampling import grid_inputs


def stats_records(
    stats: np.ndarray, names: tuple[str, ...], epoch: int, step: int, steps_per_epoch: int, log_every: int
) -> list[dict[str, Any]]:
    """metrics.jsonl records of an epoch's per-step stats (rows, len(names)) ending at `step`:
    every `log_every`-th step, at x = its position in epochs, then the epoch's means."""
    first_step = step - len(stats)
    records = [
        {"kind": "step", "epoch": epoch, "step": first_step + i + 1, "x": epoch - 1 + (i + 1) / steps_per_epoch}
        | dict(zip(names, row.tolist()))
        for i, row in enumerate(stats)
        if (first_step + i + 1) % log_every == 0
    ]
    records.append({"kind": "epoch", "epoch": epoch, "step": step} | dict(zip(names, stats.mean(axis=0).tolist())))
    return records


@torch.no_grad()
def draw_samples(bundle: Bundle, z: torch.Tensor, reference: torch.Tensor | None, epoch: int) -> Image.Image:
    """The sampler's output for the fixed noise `z`, in eval mode, drawn as the dataset says: an
    image grid, or a scatter over `reference` points."""
    g = bundle.sampler
    z, y, columns = grid_inputs(bundle.config, z)  # a conditional run: one row per class
    was_training = g.training
    g.eval()
    x = bundle.spec.to_display(g(z, y), bundle.config)
    g.train(was_training)
    if bundle.spec.display == "scatter":
        return scatter_2d(x, reference, title=f"epoch {epoch}")
    return image_grid(x, columns)


def write_samples(run: RunDir, epoch: int, picture: Image.Image) -> None:
    """samples/epoch_XXX.png."""
    save_png(run.samples / f"epoch_{epoch:03d}.png", picture)


def save_epoch_checkpoint(
    run: RunDir, bundle: Bundle, epoch: int, step: int, scores: dict[str, float], monitors: dict
) -> None:
    """checkpoints/last.safetensors, then, when `scores` beat the best so far, its copy as
    best.safetensors. The checkpoint records which epoch is best, so a kill between the two is
    repaired on resume (`restore_best`)."""
    best = run.read_info().get("best")
    improved = bool(scores) and is_better(bundle.spec, scores, best and best["value"])
    if improved:
        name = bundle.spec.best_by[0]
        best = {"epoch": epoch, "metric": name, "value": scores[name]}
    rng_tensors, rng_values = rng_state()
    info = {
        "epoch": epoch, "step": step, "rng": rng_values, "best": best,
        "config": bundle.config.model_dump(mode="json"), "monitors": monitors, "lr_scale": bundle.lr_scale,
    }  # fmt: skip
    replay = {f"replay.{k}": v for k, v in bundle.replay.state_dict().items()} if bundle.replay else {}
    save_checkpoint(run.checkpoint, bundle.modules, bundle.optimizers, rng_tensors | replay, info)
    if improved:
        atomic_copy(run.checkpoint, run.best_checkpoint)
        run.update_info(best=best)


def keep_milestone(run: RunDir, bundle: Bundle, epoch: int, monitors: dict[str, Any]) -> None:
    """After the checkpoint of a `train.keep_weights_at` epoch: weights/epoch_NNN.safetensors, then
    run.json's `milestones[N]` (the monitors' health then, the trend of the evaluations so far).

    Each is written only when missing, so that a resume repairs a kill between the checkpoint and
    them (the checkpoint holds the same weights) and never rewrites a milestone already kept.
    """
    path = run.milestone_weights(epoch)
    if not path.is_file():
        save_weights(path, bundle.modules, {"epoch": str(epoch), "weights": f"epoch {epoch}"})
    milestones = run.read_info().get("milestones") or {}
    if str(epoch) not in milestones:
        milestones[str(epoch)] = {
            "weights": str(path.relative_to(run.path)), "health": monitors["health"],
            "health_worst": monitors["health_worst"], "events": len(monitors["events"]),
            "trend": run_trend(run.read_metrics(), bundle.spec.best_by).to_json(),
        }  # fmt: skip
        run.update_info(milestones=milestones)


def restore_state(bundle: Bundle, extra: dict[str, torch.Tensor], info: dict) -> None:
    """What a checkpoint holds beyond networks, optimizers and RNG: the replay buffer's fakes and
    the rollbacks' learning-rate scale (absent from checkpoints before them: 1)."""
    bundle.lr_scale = info.get("lr_scale", 1.0)
    if bundle.replay is not None:
        state = {k.removeprefix("replay."): v for k, v in extra.items() if k.startswith("replay.")}
        bundle.replay.load_state_dict(state, bundle.engine.device)


def restore_best(run: RunDir, info: dict) -> None:
    """After a kill: make `best.safetensors` and run.json's `best` agree with the last checkpoint's
    record of the best epoch (the kill may have come between the checkpoint and the copy)."""
    best = info.get("best")
    if best is None:  # no evaluation yet, or a checkpoint from before it recorded the best
        return
    if best["epoch"] == info["epoch"] and checkpoint_epoch(run.best_checkpoint) != info["epoch"]:
        atomic_copy(run.checkpoint, run.best_checkpoint)
    run.update_info(best=best)
