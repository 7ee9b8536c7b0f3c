"""Adversarial losses: pure functions of the discriminator's logits.

Every loss has the same shape: `d(real_logits, fake_logits) -> DLoss` and `g(fake_logits) -> Tensor`,
so one config field picks one from `LOSSES`.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F


class DLoss(NamedTuple):
    """Discriminator loss and its two parts, each a scalar tensor."""

    total: torch.Tensor
    real: torch.Tensor
    fake: torch.Tensor


class AdversarialLoss(NamedTuple):
    d: Callable[[torch.Tensor, torch.Tensor], DLoss]
    g: Callable[[torch.Tensor], torch.Tensor]


def ns_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> DLoss:
    """Binary cross-entropy: minimise -log D(x) - log(1 - D(G(z))). Logits (B,), any range."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    # The study's Keras loop fit D on real and fake in one batch: the mean over both halves.
    return DLoss((real + fake) / 2, real, fake)


def ns_g(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: minimise -log D(G(z)) (Goodfellow et al. 2014, sec. 3)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


LOSSES: dict[str, AdversarialLoss] = {"ns": AdversarialLoss(ns_d, ns_g)}
