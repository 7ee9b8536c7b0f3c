"""Adversarial losses: pure functions of the discriminator's logits, one registry line each.

Every loss has one shape (compare_gan's `loss_lib`, split by the network it trains, because the
G step may draw fresh fakes): `d(real_logits, fake_logits) -> scalar` and
`g(fake_logits, real_logits) -> scalar`, with logits (B,) of any range. A loss with targets
(`labels=True`) also takes `d(..., real_target, fake_target)`, tensors (B,) in [0, 1] that replace
its 1s and 0s (label smoothing and flips, `ganlab.train.objective`). `LOSSES` maps `train.loss` to
one; `ganlab.config.LOSS_NAMES` lists the same names.
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
    labels: `d` takes optional targets `real_target`, `fake_target` (B,) for its 1s and 0s.
    """

    d: Callable[..., Tensor]
    g: Callable[[Tensor, Tensor | None], Tensor]
    summary: Literal["probability", "raw"] = "probability"
    g_needs_real: bool = False
    labels: bool = False


def ns_d(real_logits: Tensor, fake_logits: Tensor, real_target: Tensor | None = None, fake_target: Tensor | None = None) -> Tensor:
    """Binary cross-entropy: minimise -log D(x) - log(1 - D(G(z))) (targets 1 and 0 by default)."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits) if real_target is None else real_target)
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits) if fake_target is None else fake_target)
    # The study's Keras loop fit D on real and fake in one batch: the mean over both halves.
    return (real + fake) / 2


def ns_g(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """Non-saturating generator loss: minimise -log D(G(z)) (Goodfellow et al. 2014, sec. 3)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def minimax_g(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """The saturating generator loss of the minimax game: minimise E[log(1 - D(G(z)))]
    (Goodfellow et al. 2014, eq. 1): -BCE(logit, 0), whose gradient vanishes when D wins."""
    return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def hinge_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_g(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """-E[D(G(z))]."""
    return -fake_logits.mean()


def wasserstein_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The critic's side of the Wasserstein-1 estimate (Arjovsky et al. 2017): E[D(G(z))] - E[D(x)].
    D must be kept 1-Lipschitz: `train.clip` (the original WGAN) or `train.penalties.wgan-gp`."""
    return fake_logits.mean() - real_logits.mean()


def lsgan_d(real_logits: Tensor, fake_logits: Tensor, real_target: Tensor | None = None, fake_target: Tensor | None = None) -> Tensor:
    """Least squares (Mao et al. 2017, eq. 2 with a = 0, b = c = 1):
    (1/2) E[(D(x) - 1)^2] + (1/2) E[D(G(z))^2] (targets 1 and 0 by default)."""
    real = (real_logits - (1.0 if real_target is None else real_target)).pow(2).mean()
    fake = (fake_logits - (0.0 if fake_target is None else fake_target)).pow(2).mean()
    return (real + fake) / 2


def lsgan_g(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """(1/2) E[(D(G(z)) - 1)^2]."""
    return (fake_logits - 1).pow(2).mean() / 2


def ragan_d(real_logits: Tensor, fake_logits: Tensor, real_target: Tensor | None = None, fake_target: Tensor | None = None) -> Tensor:
    """Relativistic average BCE (Jolicoeur-Martineau 2018, RaSGAN): with C the logits,
    (BCE(C(x) - E[C(G(z))], 1) + BCE(C(G(z)) - E[C(x)], 0)) / 2: is a real sample more real than
    the average fake, and a fake less real than the average real? (targets 1 and 0 by default)."""
    real, fake = real_logits - fake_logits.mean(), fake_logits - real_logits.mean()
    return ns_d(real, fake, real_target, fake_target)


def ragan_g(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """The same game with the roles swapped: (BCE(C(G(z)) - E[C(x)], 1) + BCE(C(x) - E[C(G(z))], 0)) / 2,
    so G also learns from the real batch's logits."""
    assert real_logits is not None, "ragan's G loss needs D's logits on the real batch (g_needs_real)"
    return ns_d(fake_logits - real_logits.mean(), real_logits - fake_logits.mean())


LOSSES: dict[str, Loss] = {
    "ns": Loss(ns_d, ns_g, labels=True),
    "minimax": Loss(ns_d, minimax_g, labels=True),
    "hinge": Loss(hinge_d, hinge_g, summary="raw"),
    "wasserstein": Loss(wasserstein_d, hinge_g, summary="raw"),
    "lsgan": Loss(lsgan_d, lsgan_g, summary="raw", labels=True),
    "ragan": Loss(ragan_d, ragan_g, summary="raw", g_needs_real=True, labels=True),
}
