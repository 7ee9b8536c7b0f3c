"""What the step optimises: the configured loss and penalties, and the names of what it logs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganlab.config import TrainConfig
from ganlab.train.losses import LOSSES, Loss
from ganlab.train.penalties import PENALTIES, Penalty

Tensor = torch.Tensor


@dataclass(frozen=True)
class Objective:
    """A loss from `LOSSES` and weighted penalties from `PENALTIES`, as `train` configures them."""

    loss: Loss
    penalties: tuple[tuple[str, Penalty, float], ...] = ()

    @classmethod
    def from_config(cls, config: TrainConfig) -> "Objective":
        penalties = tuple((name, PENALTIES[name], weight) for name, weight in config.penalties.items())
        return cls(LOSSES[config.loss], penalties)

    @property
    def stat_names(self) -> tuple[str, ...]:
        """Names of the per-step statistics `train_step` returns, in its order: the losses, D's
        outputs on real and fake, each penalty (unweighted), then the gradient norms."""
        outputs = ("d_real", "d_fake") if self.loss.summary == "probability" else ("critic_real", "critic_fake")
        return ("d_loss", "g_loss", *outputs, *(name for name, _, _ in self.penalties), "d_grad_norm", "g_grad_norm")

    def summarise(self, logits: Tensor) -> Tensor:
        """D's mean output on a batch: its probability, or a critic's raw score."""
        logits = logits.detach().float()
        return (torch.sigmoid(logits) if self.loss.summary == "probability" else logits).mean()

    def penalise(
        self, d: Callable[[Tensor, Tensor | None], Tensor], x_real: Tensor, x_fake: Tensor, y: Tensor | None
    ) -> tuple[Tensor, list[Tensor]]:
        """(weighted sum, unweighted values) of the penalties on D for these batches."""
        values = [penalty(d, x_real, x_fake, y) for _, penalty, _ in self.penalties]
        total = sum((weight * value for (_, _, weight), value in zip(self.penalties, values)), torch.zeros(()))
        return total.to(x_real.device), values
