"""What the step optimises: the configured loss, its targets and penalties, and the names of what
it logs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganlab.config import ConfigError, TrainConfig
from ganlab.train.losses import LOSSES, Loss
from ganlab.train.penalties import PENALTIES, Penalty

Tensor = torch.Tensor


@dataclass(frozen=True)
class Objective:
    """A loss from `LOSSES`, D's targets, and weighted penalties from `PENALTIES`, as `train`
    configures them. `real_target` (1 - label smoothing) and `flip` (the fraction of targets
    flipped) apply to losses with `labels`; at 1 and 0 the loss gets no targets at all."""

    loss: Loss
    penalties: tuple[tuple[str, Penalty, float], ...] = ()
    real_target: float = 1.0
    flip: float = 0.0

    @classmethod
    def from_config(cls, config: TrainConfig) -> "Objective":
        loss = LOSSES[config.loss]
        for field in ("label_smoothing", "label_flip"):
            if getattr(config, field) and not loss.labels:
                with_labels = ", ".join(name for name, known in LOSSES.items() if known.labels)
                raise ConfigError(f"train.{field}: needs a loss with targets ({with_labels}), got loss {config.loss!r}")
        penalties = tuple((name, PENALTIES[name], weight) for name, weight in config.penalties.items())
        return cls(loss, penalties, 1.0 - config.label_smoothing, config.label_flip)

    @property
    def stat_names(self) -> tuple[str, ...]:
        """Names of the per-step statistics `train_step` returns, in its order: the losses, D's
        outputs on real and fake, each penalty (unweighted), then the gradient norms."""
        outputs = ("d_real", "d_fake") if self.loss.summary == "probability" else ("critic_real", "critic_fake")
        return ("d_loss", "g_loss", *outputs, *(name for name, _, _ in self.penalties), "d_grad_norm", "g_grad_norm")

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """D's loss on its logits (B,) for a real and a fake batch, with smoothed or flipped targets
        when configured: a flipped real target is 0, a flipped fake one the real target (the flips
        are drawn from the global RNG)."""
        if self.real_target == 1.0 and self.flip == 0.0:
            return self.loss.d(real_logits, fake_logits)
        real_target = torch.full_like(real_logits, self.real_target)
        fake_target = torch.zeros_like(fake_logits)
        if self.flip:
            real_target[torch.rand(real_target.shape, device=real_target.device) < self.flip] = 0.0
            fake_target[torch.rand(fake_target.shape, device=fake_target.device) < self.flip] = self.real_target
        return self.loss.d(real_logits, fake_logits, real_target, fake_target)

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
