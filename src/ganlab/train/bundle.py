"""Everything a run trains, in one place: its networks and their optimizers.

Checkpoints, rollbacks, final weights and sampling all go through `Bundle.modules` and
`Bundle.optimizers`, so a new trained network (an EMA copy of G, an encoder) is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ganlab.config import OptimizerConfig, RunConfig
from ganlab.data.registry import dataset_spec
from ganlab.data.spec import DatasetSpec
from ganlab.models import build_discriminator, build_generator
from ganlab.train.engine import Engine
from ganlab.train.objective import Objective


@dataclass
class Bundle:
    """A run's networks (`modules`: "g", "d"), their optimizers (same keys), its objective, and
    how steps are computed. `step_g` and `step_d` are the networks as `train_step` calls them
    (compiled or not, see `Engine.compiled`); everything else uses the plain modules."""

    config: RunConfig
    spec: DatasetSpec
    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    objective: Objective
    engine: Engine
    step_g: Callable[..., torch.Tensor]
    step_d: Callable[..., torch.Tensor]

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

    def set_lr_scale(self, scale: float) -> None:
        """Every optimizer's learning rate at `scale` times its configured one (rollbacks)."""
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = getattr(self.config.optim, name).lr * scale


def sampler_name(config: RunConfig) -> str:
    """The name, in a run's modules (and so in its weight files), of the generator that samples."""
    return "g"


def build_optimizer(params: list[nn.Parameter], config: OptimizerConfig) -> torch.optim.Optimizer:
    """Adam or SGD as configured, with fused kernels: one pass over each tensor per update
    (1.03-1.14x on the FC step against `foreach`, benchmarks/trainer_proposals.py)."""
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=config.betas, fused=True)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, fused=True)


def build_bundle(config: RunConfig, device: torch.device) -> Bundle:
    """Networks (initialised from the current RNG state: G, then D), optimizers and objective for
    a config, set up for `device` as `train.precision` and `train.compile` say."""
    spec = dataset_spec(config.data.dataset)
    engine = Engine.for_run(config.train, device)
    engine.configure_backends()
    modules = {"g": build_generator(config, spec).to(device), "d": build_discriminator(config, spec).to(device)}
    optimizers = {name: build_optimizer(list(m.parameters()), getattr(config.optim, name)) for name, m in modules.items()}
    return Bundle(
        config=config,
        spec=spec,
        modules=modules,
        optimizers=optimizers,
        objective=Objective.from_config(config.train),
        engine=engine,
        step_g=engine.compiled(modules["g"]),
        step_d=engine.compiled(modules["d"]),
    )
