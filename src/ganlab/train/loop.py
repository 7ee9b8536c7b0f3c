"""The training loop: `train()` builds a run from its config, then runs epochs of `train_step`.

Read top to bottom. The dataset lives on the device as one tensor, each epoch walks a new
permutation of it, and the per-step statistics stay on the device: the monitors read them back
once every `monitor.every` steps (one host sync), and may stop the run or roll it back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch

from ganlab.config import RunConfig
from ganlab.files import utc_now
from ganlab.metrics.trend import run_trend
from ganlab.models.noise import sample_noise
from ganlab.rundir import RunDir
from ganlab.train.allocator import keep_freed_memory
from ganlab.train.bundle import Bundle, build_bundle
from ganlab.train.checkpoint import load_checkpoint, save_weights
from ganlab.train.engine import default_device
from ganlab.train.epoch import (
    draw_samples, keep_milestone, restore_best, restore_state, save_epoch_checkpoint, stats_records, write_samples,
)  # fmt: skip
from ganlab.train.evaluation import make_evaluator, score
from ganlab.train.hooks import EpochResult, Hook
from ganlab.train.progress import Progress
from ganlab.train.resume import check_resume
from ganlab.train.rng import seed_everything, set_rng_state
from ganlab.train.standing_stats import standing_statistics
from ganlab.train.step import Batch, train_step
from ganlab.train.tensorboard import TensorBoardLog, summary_writer_class
from ganlab.train.watch import Watch

FIXED_NOISE_SIZE = 64
RING_REFERENCE = 2000  # data points drawn under a scatter of samples


def train(
    config: RunConfig | None,
    out: Path,
    *,
    resume: bool = False,
    data_dir: Path | None = None,
    progress: str = "auto",
    device: torch.device | None = None,
    hooks: Sequence[Hook] = (),
    rewrite: bool = False,
    config_change: bool = False,
) -> RunDir:
    """Train a GAN as `config` says, writing everything to the run directory `out`; `hooks`
    follow the run epoch by epoch (plots, for example: `ganlab.report.plots.PlotWriter`).

    With `resume`, `out` must hold a run and `config` is None: the saved config and the last
    checkpoint are used, and the result is the same as if the run had never stopped. A resume
    that would rewrite records, or go on with an edited config.yaml, is refused unless `rewrite`
    or `config_change` say so (`ganlab.train.resume`). The run directory is locked while this
    runs: a second writer is refused (`RunDir.lock`).
    """
    device = device or default_device()
    if device.type == "cpu":
        keep_freed_memory()  # no page faults to bring each step's buffers back (see allocator.py)
    run = RunDir(Path(out))
    if resume:
        config = run.read_config()
    elif config is None:
        raise ValueError("a new run needs a config")
    if config.train.tensorboard:
        summary_writer_class()  # a missing package fails here, before anything is written

    # The networks first: a config they cannot be built from fails before anything is written.
    seed_everything(config.train.seed)
    bundle = build_bundle(config, device)
    with run.lock("resuming" if resume else "training"):
        if not resume:
            run.create(config)
        return fit(run, bundle, resume, data_dir, progress, hooks, rewrite, config_change)


def fit(
    run: RunDir,
    bundle: Bundle,
    resume: bool,
    data_dir: Path | None,
    progress: str,
    hooks: Sequence[Hook],
    rewrite: bool,
    config_change: bool,
) -> RunDir:
    """Train `bundle` in the run directory `run`, which the caller holds locked: the data, the
    fixed noise of the sample grids, the checkpoint to continue from, then the epochs."""
    config, device = bundle.config, bundle.engine.device
    x_train, y_train = bundle.spec.load(config, "train", data_dir, device, progress != "quiet")
    fixed_z = sample_noise(
        FIXED_NOISE_SIZE, config.noise, generator=torch.Generator().manual_seed(config.train.seed + 1)
    ).to(device)
    batch_size, n_critic = config.train.batch_size, config.train.n_critic
    n_batches = -(-len(x_train) // batch_size)  # the last, smaller batch is kept, as in Keras
    steps_per_epoch = -(-n_batches // n_critic)
    total_steps = config.train.epochs * steps_per_epoch  # what learning-rate decay and instance noise count down
    bar = Progress(progress, total_epochs=config.train.epochs, done_epochs=0, steps_per_epoch=steps_per_epoch)
    watch = Watch.build(bundle, run, bar, x_train, steps_per_epoch)
    epoch, step, info = 0, 0, None
    if resume and run.checkpoint.is_file():
        extra, info = load_checkpoint(run.checkpoint, bundle.modules, bundle.optimizers)
    if resume:  # refuse what would lose records or change results; say what is repaired
        notes = check_resume(run, info, config, rewrite=rewrite, config_change=config_change)
        for note in notes:
            bar.warn(note, label="resume")
        if notes:
            run.update_info(resumes=run.read_info().get("resumes", []) + [{"at": utc_now(), "notes": notes}])
    if info is not None:
        epoch, step = info["epoch"], info["step"]
        set_rng_state(extra, info["rng"])
        restore_state(bundle, extra, info)
        restore_best(run, info)
        if "monitors" in info:
            watch.monitors.load_state_dict(info["monitors"])
        else:  # a checkpoint from before the monitors: they start afresh here
            watch.monitors.seen_step = step
    run.truncate_metrics(epoch)
    if epoch in config.train.keep_weights_at:  # a kill may have come between the checkpoint and it
        keep_milestone(run, bundle, epoch, watch.info())
    bar.done_epochs = epoch
    reference = None if bundle.spec.is_image else x_train[:RING_REFERENCE]
    evaluate = make_evaluator(config, bundle.spec, data_dir, device)
    names = bundle.objective.stat_names
    hooks = list(hooks)
    if config.train.tensorboard:
        hooks.insert(0, TensorBoardLog(run.path / "tensorboard", step, len(watch.monitors.events)))
    seconds = run.read_info().get("seconds_per_epoch", [])[:epoch]
    run.update_info(status="running", started=utc_now(), steps_per_epoch=steps_per_epoch, **bundle.engine.describe(), **watch.info())

    def batch_at(perm: torch.Tensor, j: int) -> Batch:
        index = perm[j * batch_size : (j + 1) * batch_size]
        return bundle.spec.prepare(x_train[index], config), y_train[index]

    try:
        with bar:
            while epoch < config.train.epochs and watch.action in (None, "rollback"):
                if watch.action == "rollback":  # owed since the last epoch (or a kill) ended
                    watch.roll_back(bundle)
                    continue
                start = time.perf_counter()
                epoch += 1
                watch.monitors.begin_epoch(epoch, step)
                perm = torch.randperm(len(x_train), device=device)
                stats = []
                for i in range(steps_per_epoch):
                    batches = [batch_at(perm, j) for j in range(i * n_critic, min((i + 1) * n_critic, n_batches))]
                    bundle.at_step(step, total_steps)
                    stats.append(train_step(bundle, batches))
                    step += 1
                    bar.step(stats[-1], names)
                    if step % config.monitor.every == 0 or i == steps_per_epoch - 1:
                        watch.check(bundle, step, stats)  # reads back the unseen steps: one host sync
                        if watch.action:
                            break  # the epoch ends here; the action is carried out after it
                stats_cpu = torch.stack(stats).cpu().numpy()
                seconds.append(time.perf_counter() - start)

                # The epoch's work: evaluate, monitor, records, sample grid, hooks, checkpoint.
                if bundle.sampler is not bundle.g:
                    standing_statistics(bundle.sampler, config, device)
                records = stats_records(stats_cpu, names, epoch, step, steps_per_epoch, config.train.log_every)
                scores = {}
                if evaluate is not None and due_for_evaluation(config, epoch) and watch.action is None:
                    scores, raw = score(evaluate, bundle)
                    records.append({"kind": "eval", "epoch": epoch, "step": step} | scores | raw)
                    watch.report(watch.monitors.observe_eval(step, scores))
                records += watch.monitors.drain_records()
                run.append_metrics(records)
                picture = draw_samples(bundle, fixed_z, reference, epoch)
                write_samples(run, epoch, picture)
                result = EpochResult(epoch, step, records, watch.info()["events"], scores, picture)
                for hook in hooks:
                    hook.on_epoch(result)
                save_epoch_checkpoint(run, bundle, epoch, step, scores, watch.monitors.state_dict())
                if epoch in config.train.keep_weights_at:
                    keep_milestone(run, bundle, epoch, watch.info())
                run.update_info(epochs_done=epoch, steps=step, seconds_per_epoch=seconds)
                bar.epoch_done(epoch, dict(zip(names, stats_cpu.mean(axis=0).tolist())), scores, seconds[-1])
            final = watch.finish(bundle)
    except BaseException as err:
        status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        run.update_info(status=status, ended=utc_now(), error=f"{type(err).__name__}: {err}")
        raise
    finally:
        for hook in hooks:
            hook.close()
    save_weights(run.weights("final"), bundle.modules, {"epoch": str(epoch), "weights": final})
    # Under-trained or bad? The verdict on the whole evaluation curve, beside the monitors' health.
    trend = run_trend(run.read_metrics(), bundle.spec.best_by).to_json()
    run.update_info(status="complete", ended=utc_now(), error=None, final_weights=final, trend=trend, **watch.info())
    return run


def due_for_evaluation(config: RunConfig, epoch: int) -> bool:
    """Every `train.eval_every` epochs, after each epoch whose weights are kept, and after the last."""
    return epoch % max(config.train.eval_every, 1) == 0 or epoch in (config.train.epochs, *config.train.keep_weights_at)


def dry_run_step(config: RunConfig, data_dir: Path | None = None, device: torch.device | None = None) -> dict[str, float]:
    """Build everything and run one training step on the first batches; writes nothing."""
    device = device or default_device()
    seed_everything(config.train.seed)
    bundle: Bundle = build_bundle(config, device)
    x, y = bundle.spec.load(config, "train", data_dir, device, False)
    size = config.train.batch_size
    batches = [
        (bundle.spec.prepare(x[j * size : (j + 1) * size], config), y[j * size : (j + 1) * size])
        for j in range(config.train.n_critic)
    ]
    return dict(zip(bundle.objective.stat_names, train_step(bundle, batches).tolist()))
