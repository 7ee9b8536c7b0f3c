"""Everything a run trains, in one place: its networks and their optimizers.

Checkpoints, rollbacks, final weights and sampling all go through `Bundle.modules` and
`Bundle.optimizers`, so a new trained network (an EMA copy of G, an encoder) is one entry here.
What changes with the run's progress (learning-rate decay, instance noise) is set by `at_step`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ganlab.config import OptimizerConfig, RunConfig
from ganlab.data.registry import dataset_spec
from ganlab.data.spec import DatasetSpec
from ganlab.models import build_discriminator, build_generator
from ganlab.train.d_inputs import ReplayBuffer
from ganlab.train.ema import average_of
from ganlab.train.engine import Engine
from ganlab.train.objective import Objective


@dataclass
class Bundle:
    """A run's networks (`modules`: "g", "d", and "g_ema" with `train.ema`), the optimizers of
    "g" and "d", its objective, and how steps are computed. `step_g` and `step_d` are the networks
    as `train_step` calls them (compiled or not, see `Engine.compiled`); everything else uses the
    plain modules. `replay` is the buffer of old fakes (None when off); `lr_scale` the rollbacks'
    factor on the learning rates; `noise_std` the instance noise's std at this step; `ema_decay`
    the decay of G's average at this step."""

    config: RunConfig
    spec: DatasetSpec
    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    objective: Objective
    engine: Engine
    step_g: Callable[..., torch.Tensor]
    step_d: Callable[..., torch.Tensor]
    replay: ReplayBuffer | None = None
    lr_scale: float = 1.0
    noise_std: float = field(init=False)
    ema_decay: float = field(init=False)

    def __post_init__(self) -> None:
        self.noise_std = self.config.train.instance_noise
        self.ema_decay = self.config.train.ema or 0.0

    @property
    def g(self) -> nn.Module:
        return self.modules["g"]

    @property
    def d(self) -> nn.Module:
        return self.modules["d"]

    @property
    def sampler(self) -> nn.Module:
        """The generator that draws samples, scores and pictures."""
        return self.modules[sampler_name(self.config)]

    def set_lr_scale(self, scale: float, decay: float = 1.0) -> None:
        """Every optimizer's learning rate at `scale` (rollbacks) times `decay` (the schedule's
        factor now) times its configured one."""
        self.lr_scale = scale
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = getattr(self.config.optim, name).lr * scale * decay

    def at_step(self, step: int, total_steps: int) -> None:
        """Set what decays over the run for the step after `step` of `total_steps`, with
        t = step / total_steps: learning rates x (1 - t) with `optim.decay: linear`, the
        instance noise's std `train.instance_noise` x (1 - t), and with `train.ema_warmup` the
        average's decay min(ema, (1 + step) / (10 + step)). A pure function of the step (which the
        checkpoint holds), so a resumed run sets the same values."""
        remaining = 1.0 - step / total_steps
        if self.config.optim.decay == "linear":
            self.set_lr_scale(self.lr_scale, remaining)
        self.noise_std = self.config.train.instance_noise * remaining
        ema = self.config.train.ema
        if ema is not None and self.config.train.ema_warmup:
            self.ema_decay = min(ema, (1 + step) / (10 + step))


def sampler_name(config: RunConfig) -> str:
    """The name, in a run's modules (and so in its weight files), of the generator that samples."""
    return "g" if config.train.ema is None else "g_ema"


def build_optimizer(params: list[nn.Parameter], config: OptimizerConfig) -> torch.optim.Optimizer:
    """Adam or SGD as configured, with fused kernels: one pass over each tensor per update
    (1.03-1.14x on the FC step against `foreach`, benchmarks/trainer_proposals.py)."""
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=config.betas, fused=True)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, fused=True)


def build_bundle(config: RunConfig, device: torch.device) -> Bundle:
    """Networks (initialised from the current RNG state: G, then D), optimizers and objective for
    a config, set up for `device` as `train.precision` and `train.compile` say."""
    spec = dataset_spec(config.data)
    engine = Engine.for_run(config.train, device)
    engine.configure_backends()
    modules = {"g": build_generator(config, spec).to(device), "d": build_discriminator(config, spec).to(device)}
    optimizers = {name: build_optimizer(list(m.parameters()), getattr(config.optim, name)) for name, m in modules.items()}
    if config.train.ema is not None:
        modules["g_ema"] = average_of(modules["g"])  # G's initial weights; no optimizer: it is not trained
    replay = ReplayBuffer(config.train.replay, config.train.replay_size) if config.train.replay else None
    return Bundle(
        config=config,
        spec=spec,
        modules=modules,
        optimizers=optimizers,
        objective=Objective.from_config(config.train),
        engine=engine,
        step_g=engine.compiled(modules["g"]),
        step_d=engine.compiled(modules["d"]),
        replay=replay,
    )
