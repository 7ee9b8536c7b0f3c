"""The training loop: setup, one `train_step`, the epoch loop, and what each epoch writes.

Read top to bottom: `train()` builds everything from the config, then runs epochs of
`train_step()` over a permutation of the dataset, which lives on the device as one tensor.
Per-step statistics stay on the device; the monitors read them back once every `monitor.every`
steps (no sync per step), and may stop the run or roll it back (`ganlab.train.monitors`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganlab.config import OptimizerConfig, RunConfig
from ganlab.data.datasets import load_mnist, sample_ring, scale, unscale
from ganlab.files import atomic_copy, utc_now
from ganlab.losses import LOSSES, AdversarialLoss
from ganlab.models import build_discriminator, build_generator
from ganlab.models.noise import sample_noise
from ganlab.pictures import image_grid, save_png, scatter_2d
from ganlab.report.plots import plot_losses, plot_metrics
from ganlab.train.allocator import keep_freed_memory
from ganlab.train.checkpoint import checkpoint_epoch, load_checkpoint, load_weights, save_checkpoint, save_weights
from ganlab.train.engine import Engine, default_device
from ganlab.train.evaluation import BEST_BY, Evaluate, is_better, make_evaluator
from ganlab.train.monitors import Event, Monitors, SampleProbe
from ganlab.train.progress import Progress
from ganlab.rundir import RunDir
from ganlab.train.rng import rng_state, seed_everything, set_rng_state
from ganlab.train.tensorboard import TensorBoardLog, summary_writer_class

# Names of the per-step statistics, in the order `train_step` stacks them.
STATS = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")
FIXED_NOISE_SIZE = 64


@dataclass
class GAN:
    """The two networks, their optimizers, the adversarial loss and how steps are computed.

    `step_g` and `step_d` are the networks as `train_step` calls them (compiled or not, see
    `Engine.compiled`); everything else uses `g` and `d`."""

    g: nn.Module
    d: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    loss: AdversarialLoss
    engine: Engine
    step_g: Callable[[torch.Tensor], torch.Tensor]
    step_d: Callable[[torch.Tensor], torch.Tensor]


def build_optimizer(params: list[nn.Parameter], config: OptimizerConfig) -> torch.optim.Optimizer:
    """Adam or SGD as configured, with fused kernels: one pass over each tensor per update
    (1.03-1.14x on the FC step against `foreach`, benchmarks/trainer_proposals.py)."""
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=config.betas, fused=True)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, fused=True)


def build_gan(config: RunConfig, device: torch.device) -> GAN:
    """Networks (initialised from the current RNG state), optimizers and loss for a config, set
    up for `device` as `train.precision` and `train.compile` say (`ganlab.train.engine`)."""
    engine = Engine.for_run(config.train, device)
    engine.configure_backends()
    g = build_generator(config).to(device)
    d = build_discriminator(config).to(device)
    return GAN(
        g=g,
        d=d,
        opt_g=build_optimizer(list(g.parameters()), config.optim.g),
        opt_d=build_optimizer(list(d.parameters()), config.optim.d),
        loss=LOSSES[config.train.loss],
        engine=engine,
        step_g=engine.compiled(g),
        step_d=engine.compiled(d),
    )


def train_step(gan: GAN, x_real: torch.Tensor, config: RunConfig) -> torch.Tensor:
    """One D update then one G update (Goodfellow et al. 2014, Algorithm 1, k = 1).

    x_real: (B, *data_shape) float, already scaled. Returns the stats named in `STATS`, shape
    (len(STATS),), on the device.
    """
    batch = x_real.shape[0]
    gan.engine.begin_step()
    z = sample_noise(batch, config.noise, x_real.device)
    with gan.engine.autocast():  # forward passes only: backward follows the forward's dtypes
        x_fake = gan.step_g(z)
        # D: maximise log D(x) + log(1 - D(G(z))), on real and fake in one pass (one set of matmuls).
        logits = gan.step_d(torch.cat([x_real, x_fake.detach()]))
        d_loss = gan.loss.d(logits[:batch], logits[batch:])
    with torch.no_grad():  # now: a CUDA graph's next replay may reuse the logits' memory
        d_real = torch.sigmoid(logits[:batch].float()).mean()
        d_fake = torch.sigmoid(logits[batch:].float()).mean()
    gan.opt_d.zero_grad(set_to_none=True)
    d_loss.total.backward()
    d_grad_norm = torch.nn.utils.get_total_norm([p.grad for p in gan.d.parameters()])
    gan.opt_d.step()

    # G: maximise log D(G(z)) (non-saturating). D's weights need no gradient here.
    gan.d.requires_grad_(False)
    with gan.engine.autocast():
        if config.train.g_noise == "fresh":
            x_fake = gan.step_g(sample_noise(batch, config.noise, x_real.device))
        g_loss = gan.loss.g(gan.step_d(x_fake))
    gan.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    gan.d.requires_grad_(True)
    g_grad_norm = torch.nn.utils.get_total_norm([p.grad for p in gan.g.parameters()])
    gan.opt_g.step()

    return torch.stack([d_loss.total, g_loss, d_real, d_fake, d_grad_norm, g_grad_norm]).detach()


# Data ------------------------------------------------------------------------------------------


def load_training_data(
    config: RunConfig, device: torch.device, data_dir: Path | None, progress: bool = False
) -> torch.Tensor:
    """The whole training set on the device: uint8 images for MNIST, float points for the ring."""
    if config.data.dataset == "ring":
        generator = torch.Generator().manual_seed(config.train.seed)
        return sample_ring(config.train.ring_size, generator=generator).to(device)
    return load_mnist("train", data_dir=data_dir, device=device, progress=progress).images


def prepare_batch(x: torch.Tensor, config: RunConfig) -> torch.Tensor:
    """Scale a batch on the device (uint8 images); the ring's points are used as they are."""
    return scale(x, config.data.scaling) if x.dtype == torch.uint8 else x


@torch.no_grad()
def draw(g: nn.Module, z: torch.Tensor, config: RunConfig) -> torch.Tensor:
    """G(z) in eval mode, in display units: images in [0, 1], or the ring's raw 2-D points."""
    was_training = g.training
    g.eval()
    x = g(z)
    g.train(was_training)
    return x if config.data.dataset == "ring" else unscale(x, config.data.scaling)


# The loop --------------------------------------------------------------------------------------


def dry_run_step(config: RunConfig, data_dir: Path | None = None, device: torch.device | None = None) -> dict[str, float]:
    """Build everything and run one training step on one batch; writes nothing."""
    device = device or default_device()
    x_train = load_training_data(config, device, data_dir)
    seed_everything(config.train.seed)
    gan = build_gan(config, device)
    x_real = prepare_batch(x_train[: config.train.batch_size], config)
    return dict(zip(STATS, train_step(gan, x_real, config).tolist()))


def train(
    config: RunConfig | None,
    out: Path,
    *,
    resume: bool = False,
    data_dir: Path | None = None,
    progress: str = "auto",
    device: torch.device | None = None,
) -> RunDir:
    """Train a GAN as `config` says, writing everything to the run directory `out`.

    With `resume`, `out` must hold a run and `config` is None: the saved config and the last
    checkpoint are used, and the result is the same as if the run had never stopped.
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
    if not resume:
        run.create(config)
    x_train = load_training_data(config, device, data_dir, progress=progress != "quiet")

    seed_everything(config.train.seed)
    gan = build_gan(config, device)
    fixed_z = sample_noise(
        FIXED_NOISE_SIZE, config.noise, generator=torch.Generator().manual_seed(config.train.seed + 1)
    ).to(device)
    batch_size = config.train.batch_size
    steps_per_epoch = -(-len(x_train) // batch_size)  # the last, smaller batch is kept, as in Keras
    bar = Progress(progress, total_epochs=config.train.epochs, done_epochs=0, steps_per_epoch=steps_per_epoch)
    watch = Watch.build(config, run, bar, x_train, steps_per_epoch, device)
    epoch, step = 0, 0
    if resume and run.checkpoint.is_file():
        extra, info = load_checkpoint(run.checkpoint, {"g": gan.g, "d": gan.d}, {"g": gan.opt_g, "d": gan.opt_d})
        epoch, step = info["epoch"], info["step"]
        set_rng_state(extra, info["rng"])
        restore_best(run, info)
        if "monitors" in info:
            watch.monitors.load_state_dict(info["monitors"])
        else:  # a checkpoint from before the monitors: they start afresh here
            watch.monitors.seen_step = step
    run.truncate_metrics(epoch)
    bar.done_epochs = epoch

    reference = x_train[:2000] if config.data.dataset == "ring" else None
    evaluate = make_evaluator(config, data_dir, device)
    epoch_end = EpochEnd(run, config, steps_per_epoch, fixed_z, evaluate, reference, watch)
    seconds = run.read_info().get("seconds_per_epoch", [])[:epoch]
    run.update_info(
        status="running", started=utc_now(), steps_per_epoch=steps_per_epoch, **gan.engine.describe(), **watch.info()
    )
    try:
        if config.train.tensorboard:
            epoch_end.tensorboard = TensorBoardLog(run.path / "tensorboard", step, len(watch.monitors.events))
        with bar:
            while epoch < config.train.epochs and watch.action in (None, "rollback"):
                if watch.action == "rollback":  # owed since the last epoch (or a kill) ended
                    watch.roll_back(gan, config)
                    continue
                start = time.perf_counter()
                epoch += 1
                watch.monitors.begin_epoch(epoch, step)
                perm = torch.randperm(len(x_train), device=device)
                stats = []
                for i in range(steps_per_epoch):
                    x_real = prepare_batch(x_train[perm[i * batch_size : (i + 1) * batch_size]], config)
                    stats.append(train_step(gan, x_real, config))
                    step += 1
                    bar.step(stats[-1], STATS)
                    if step % config.monitor.every == 0 or i == steps_per_epoch - 1:
                        watch.check(gan, step, stats)  # reads back the unseen steps: one host sync
                        if watch.action:
                            break  # the epoch ends here; the action is carried out after it
                stats_cpu = torch.stack(stats).cpu().numpy()
                seconds.append(time.perf_counter() - start)
                scores = epoch_end(gan, epoch, step, stats_cpu)
                run.update_info(epochs_done=epoch, steps=step, seconds_per_epoch=seconds)
                bar.epoch_done(epoch, dict(zip(STATS, stats_cpu.mean(axis=0).tolist())), scores, seconds[-1])
            final = watch.finish(gan)
    except BaseException as err:
        status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        run.update_info(status=status, ended=utc_now(), error=f"{type(err).__name__}: {err}")
        raise
    finally:
        if epoch_end.tensorboard is not None:
            epoch_end.tensorboard.close()
    save_weights(run.weights("final"), {"g": gan.g, "d": gan.d}, {"epoch": str(epoch), "weights": final})
    run.update_info(status="complete", ended=utc_now(), final_weights=final, **watch.info())
    return run


# Monitors --------------------------------------------------------------------------------------


@dataclass
class Watch:
    """The loop's side of the monitors (`ganlab.train.monitors`): feeds them, shows and records
    their events, and carries out the action they call for (stop, rollback, keep-best)."""

    config: RunConfig
    run: RunDir
    bar: Progress
    monitors: Monitors
    probe: SampleProbe | None

    @classmethod
    def build(
        cls,
        config: RunConfig,
        run: RunDir,
        bar: Progress,
        x_train: torch.Tensor,
        steps_per_epoch: int,
        device: torch.device,
    ) -> "Watch":
        monitors = Monitors(config.monitor, STATS, steps_per_epoch, BEST_BY[config.data.dataset])
        probe = None
        # Building the evaluator initialises a network from the global RNG: fork it, so that
        # turning the monitors on or off never changes the training itself.
        with torch.random.fork_rng(devices=[]):
            if config.monitor.enabled:
                probe = cls._probe(config, bar, x_train, device)
        return cls(config, run, bar, monitors, probe)

    @staticmethod
    def _probe(config: RunConfig, bar: Progress, x_train: torch.Tensor, device: torch.device) -> SampleProbe:
        """The sample probe, with the MNIST evaluator when its weights can be loaded."""
        evaluator = None
        if config.data.dataset == "mnist":
            from ganlab.errors import GanlabError
            from ganlab.metrics.evaluator import default_evaluator

            try:
                evaluator = default_evaluator(str(device))
            except GanlabError as err:
                bar.warn(f"collapse monitor: no evaluator ({err}); class checks off, diversity on pixels")
        return SampleProbe(config, x_train[: config.monitor.sample_size], device, evaluator)

    @property
    def action(self) -> str | None:
        return self.monitors.action

    def check(self, gan: GAN, step: int, stats: list[torch.Tensor]) -> None:
        """Feed the steps not yet seen (the tail of this epoch's `stats`) and, on schedule, a
        sample batch; then report what fired."""
        if not self.config.monitor.enabled:
            return
        rows = torch.stack(stats[-(step - self.monitors.seen_step) :])
        weights = torch.nn.utils.get_total_norm([p.detach() for p in (*gan.g.parameters(), *gan.d.parameters())])
        events = self.monitors.observe_steps(rows.cpu().numpy(), weights.item())
        if self.probe is not None and step % self.config.monitor.sample_every == 0:
            sample = self.probe(gan.g)
            if sample is not None:
                events += self.monitors.observe_samples(step, sample)
        self.report(events)

    def report(self, events: list[Event]) -> None:
        """Show new events (and episodes that ended) and write them to run.json."""
        notes = self.monitors.drain_notes()
        for event in events:
            self.bar.warn(event.line())
        for note in notes:
            self.bar.warn(note, label="ok")
        if events or notes:
            self.run.update_info(**self.info())

    def info(self) -> dict:
        """The run.json fields the monitors own: `health`, `health_worst` and `events`."""
        return {
            "health": self.monitors.health,
            "health_worst": self.monitors.health_worst,
            "events": [e.to_json() for e in self.monitors.events],
        }

    def roll_back(self, gan: GAN, config: RunConfig) -> None:
        """Restore G, D and both optimizers from the best checkpoint, with learning rates scaled
        by `rollback_lr_factor` per rollback. Counters and the RNG go on; with no best checkpoint
        (evaluation off or not yet run) the run stops instead."""
        if not self.run.best_checkpoint.is_file():
            self.bar.warn("rollback: no best checkpoint yet (is train.eval_every 0?): stopping instead")
            self.monitors.action = "stop"
            return
        _, info = load_checkpoint(self.run.best_checkpoint, {"g": gan.g, "d": gan.d}, {"g": gan.opt_g, "d": gan.opt_d})
        scale = self.monitors.rolled_back()
        for opt, lr in ((gan.opt_g, config.optim.g.lr), (gan.opt_d, config.optim.d.lr)):
            for group in opt.param_groups:
                group["lr"] = lr * scale
        self.bar.warn(f"rolled back to the best checkpoint (epoch {info['epoch']}); learning rates x{scale:g}")

    def finish(self, gan: GAN) -> str:
        """At the end of the run: load the best weights when the action says so; returns which
        weights are final ("last", or "best (epoch N)")."""
        if self.action in ("keep-best", "rollback") and self.run.best_checkpoint.is_file():
            metadata = load_weights(self.run.best_checkpoint, {"g": gan.g, "d": gan.d})
            epoch = json.loads(metadata["info"])["epoch"]
            self.bar.warn(f"the final weights are the best checkpoint's (epoch {epoch})")
            return f"best (epoch {epoch})"
        return "last"


def stats_records(stats: np.ndarray, epoch: int, step: int, steps_per_epoch: int, log_every: int) -> list[dict]:
    """metrics.jsonl records of an epoch's per-step stats (rows, len(STATS)) ending at `step`:
    every `log_every`-th step, at x = its position in epochs, then the epoch's means."""
    first_step = step - len(stats)
    records = [
        {"kind": "step", "epoch": epoch, "step": first_step + i + 1, "x": epoch - 1 + (i + 1) / steps_per_epoch}
        | dict(zip(STATS, row.tolist()))
        for i, row in enumerate(stats)
        if (first_step + i + 1) % log_every == 0
    ]
    records.append({"kind": "epoch", "epoch": epoch, "step": step} | dict(zip(STATS, stats.mean(axis=0).tolist())))
    return records


@dataclass
class EpochEnd:
    """What each epoch leaves in the run directory, in an order that survives a kill at any point:
    metrics, pictures and plots first, then the checkpoint, then the `best` copy."""

    run: RunDir
    config: RunConfig
    steps_per_epoch: int
    fixed_z: torch.Tensor
    evaluate: Evaluate | None
    reference: torch.Tensor | None = None
    watch: Watch | None = None
    tensorboard: TensorBoardLog | None = None

    def __call__(self, gan: GAN, epoch: int, step: int, stats: np.ndarray) -> dict[str, float]:
        """Write the epoch's records and files; returns the evaluation scores, if any."""
        config, run = self.config, self.run
        records = stats_records(stats, epoch, step, self.steps_per_epoch, config.train.log_every)
        scores: dict[str, float] = {}
        evaluate_now = epoch % max(config.train.eval_every, 1) == 0 or epoch == config.train.epochs
        evaluate_now &= self.watch is None or self.watch.action is None  # weights about to go, or NaN
        if self.evaluate is not None and evaluate_now:
            scores = self.evaluate(gan.g)
            records.append({"kind": "eval", "epoch": epoch, "step": step} | scores)
        events: list[dict] = []
        if self.watch is not None:
            if scores:
                self.watch.report(self.watch.monitors.observe_eval(step, scores))
            records += self.watch.monitors.drain_records()
            events = self.watch.info()["events"]
        run.append_metrics(records)

        samples = draw(gan.g, self.fixed_z, config)
        picture = (
            scatter_2d(samples, self.reference, title=f"epoch {epoch}")
            if config.data.dataset == "ring"
            else image_grid(samples)
        )
        save_png(run.samples / f"epoch_{epoch:03d}.png", picture)
        if self.tensorboard is not None:
            self.tensorboard.write(records, picture, step, events)
        history = run.read_metrics()
        plot_losses(history, run.plots / "losses.png", title=f"{config.name}: losses", events=events)
        if scores or (events and run.plots.joinpath("metrics.png").is_file()):
            plot_metrics(history, run.plots / "metrics.png", title=f"{config.name}: sample quality", events=events)

        # The checkpoint records which epoch is best, so a kill between the two copies below is
        # repaired on resume (`restore_best`).
        best = run.read_info().get("best")
        improved = bool(scores) and is_better(config, scores, best and best["value"])
        if improved:
            name = BEST_BY[config.data.dataset][0]
            best = {"epoch": epoch, "metric": name, "value": scores[name]}
        rng_tensors, rng_values = rng_state()
        info = {"epoch": epoch, "step": step, "rng": rng_values, "best": best, "config": config.model_dump(mode="json")}
        if self.watch is not None:
            info["monitors"] = self.watch.monitors.state_dict()
        modules, optimizers = {"g": gan.g, "d": gan.d}, {"g": gan.opt_g, "d": gan.opt_d}
        save_checkpoint(run.checkpoint, modules, optimizers, rng_tensors, info)
        if improved:
            atomic_copy(run.checkpoint, run.best_checkpoint)
            run.update_info(best=best)
        return scores


def restore_best(run: RunDir, info: dict) -> None:
    """After a kill: make `best.safetensors` and run.json's `best` agree with the last checkpoint's
    record of the best epoch (the kill may have come between the checkpoint and the copy)."""
    best = info.get("best")
    if best is None:  # no evaluation yet, or a checkpoint from before it recorded the best
        return
    if best["epoch"] == info["epoch"] and checkpoint_epoch(run.best_checkpoint) != info["epoch"]:
        atomic_copy(run.checkpoint, run.best_checkpoint)
    run.update_info(best=best)
