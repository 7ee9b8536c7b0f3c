"""The loop's side of the monitors (`ganlab.train.monitors`): feed them, show and record their
events, and carry out the action they call for (stop, rollback, keep-best)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch

from ganlab.config import RunConfig
from ganlab.errors import GanlabError
from ganlab.metrics.scorers import class_evaluator
from ganlab.rundir import RunDir
from ganlab.train.bundle import Bundle
from ganlab.train.checkpoint import load_checkpoint, load_weights
from ganlab.train.monitors import Event, Monitors, SampleProbe
from ganlab.train.progress import Progress


@dataclass
class Watch:
    """Monitors, the sample probe that feeds them, and where their events go."""

    config: RunConfig
    run: RunDir
    bar: Progress
    monitors: Monitors
    probe: SampleProbe | None

    @classmethod
    def build(cls, bundle: Bundle, run: RunDir, bar: Progress, x_train: torch.Tensor, steps_per_epoch: int) -> "Watch":
        config = bundle.config
        monitors = Monitors(config.monitor, bundle.objective.stat_names, steps_per_epoch, bundle.spec.best_by)
        probe = None
        # Building the evaluator initialises a network from the global RNG: fork it, so that
        # turning the monitors on or off never changes the training itself.
        with torch.random.fork_rng(devices=[]):
            if config.monitor.enabled:
                device = bundle.engine.device
                evaluator = None
                try:
                    evaluator = class_evaluator(bundle.spec.scorer, device)
                except GanlabError as err:
                    bar.warn(f"collapse monitor: no evaluator ({err}); class checks off, diversity on pixels")
                probe = SampleProbe(config, x_train[: config.monitor.sample_size], device, evaluator)
        return cls(config, run, bar, monitors, probe)

    @property
    def action(self) -> str | None:
        return self.monitors.action

    def check(self, bundle: Bundle, step: int, stats: list[torch.Tensor]) -> None:
        """Feed the steps not yet seen (the tail of this epoch's `stats`) and, on schedule, a
        sample batch; then report what fired."""
        if not self.config.monitor.enabled:
            return
        rows = torch.stack(stats[-(step - self.monitors.seen_step) :])
        params = [p.detach() for module in bundle.modules.values() for p in module.parameters()]
        events = self.monitors.observe_steps(rows.cpu().numpy(), torch.nn.utils.get_total_norm(params).item())
        if self.probe is not None and step % self.config.monitor.sample_every == 0:
            # The G being trained, not its average (`train.ema`): at 0.999 the average still
            # holds 37% of its initial weights after 1,000 steps, which reads as a collapse.
            sample = self.probe(bundle.g)
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

    def roll_back(self, bundle: Bundle) -> None:
        """Restore every network and optimizer from the best checkpoint, with learning rates scaled
        by `rollback_lr_factor` per rollback. Counters and the RNG go on; with no best checkpoint
        (evaluation off or not yet run) the run stops instead."""
        if not self.run.best_checkpoint.is_file():
            self.bar.warn("rollback: no best checkpoint yet (is train.eval_every 0?): stopping instead")
            self.monitors.action = "stop"
            return
        _, info = load_checkpoint(self.run.best_checkpoint, bundle.modules, bundle.optimizers)
        scale = self.monitors.rolled_back()
        bundle.set_lr_scale(scale)
        self.bar.warn(f"rolled back to the best checkpoint (epoch {info['epoch']}); learning rates x{scale:g}")

    def finish(self, bundle: Bundle) -> str:
        """At the end of the run: load the best weights when the action says so; returns which
        weights are final ("last", or "best (epoch N)")."""
        if self.action in ("keep-best", "rollback") and self.run.best_checkpoint.is_file():
            metadata = load_weights(self.run.best_checkpoint, bundle.modules)
            epoch = json.loads(metadata["info"])["epoch"]
            self.bar.warn(f"the final weights are the best checkpoint's (epoch {epoch})")
            return f"best (epoch {epoch})"
        return "last"
