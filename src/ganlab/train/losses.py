"""Adversarial losses: pure functions of the discriminator's logits, one registry line each.

Every loss has one shape (compare_gan's `loss_lib`, split by the network it trains, because the
G step may draw fresh fakes): `d(real_logits, fake_logits) -> scalar` and
`g(fake_logits, real_logits) -> scalar`, with logits (B,) of any range. `LOSSES` maps
`train.loss` to one; `ganlab.config.LOSS_NAMES` lists the same names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


@dataclass(frozen=True)
class Loss:
    """An adversarial loss.

    d: D's loss from its logits on a real and a fake batch.
    g: G's loss from D's logits on G's batch; `real_logits` is None unless `g_needs_real`.
    summary: what D's outputs mean, and so how the step logs them: "probability" (the sigmoid
        of a logit, logged as `d_real`, `d_fake`) or "raw" (a critic's score, logged as
        `critic_real`, `critic_fake`).
    """

    d: Callable[[Tensor, Tensor], Tensor]
    g: Callable[[Tensor, Tensor | None], Tensor]
    summary: Literal["probability", "raw"] = "probability"
    g_needs_real: bool = False


def ns_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Binary cross-entropy: minimise -log D(x) - log(1 - D(G(z)))."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    # The study's Keras loop fit D on real and fake in one batch: the mean over both halves.
    return (real + fake) / 2


def ns_g(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """Non-saturating generator loss: minimise -log D(G(z)) (Goodfellow et al. 2014, sec. 3)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def hinge_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_g(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """-E[D(G(z))]."""
    return -fake_logits.mean()


LOSSES: dict[str, Loss] = {
    "ns": Loss(ns_d, ns_g),
    "hinge": Loss(hinge_d, hinge_g, summary="raw"),
}
