"""Penalties on the discriminator: functions of D and both batches, one registry line each.

Every penalty has one shape (compare_gan's `penalty_lib`): `penalty(d, x_real, x_fake, y) ->
scalar`, unweighted; `train.penalties` maps names to weights, and the step adds
`weight * penalty` to D's loss and logs the unweighted value under the penalty's name.
`ganlab.config.PENALTY_NAMES` lists the same names.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Tensor = torch.Tensor
# (d, x_real, x_fake, y) -> scalar: d takes (x, y) and returns logits (B,).
Penalty = Callable[[Callable[[Tensor, Tensor | None], Tensor], Tensor, Tensor, Tensor | None], Tensor]


def r1(d: Callable, x_real: Tensor, x_fake: Tensor, y: Tensor | None) -> Tensor:
    """R1 (Mescheder et al. 2018): (1/2) E_x ||grad_x D(x)||^2 on real data; its weight is gamma."""
    x = x_real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x, y).sum(), x, create_graph=True)
    return 0.5 * grad.flatten(1).pow(2).sum(1).mean()


def r2(d: Callable, x_real: Tensor, x_fake: Tensor, y: Tensor | None) -> Tensor:
    """R2 (Mescheder et al. 2018): R1's (1/2) E ||grad_x D(x)||^2 on the fake batch instead."""
    return r1(d, x_fake, x_real, y)


def wgan_gp(d: Callable, x_real: Tensor, x_fake: Tensor, y: Tensor | None) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017, Algorithm 1): E[(||grad D(x_hat)||_2 - 1)^2] on the
    interpolates x_hat = e x_real + (1 - e) x_fake, e ~ U[0, 1] per sample (from the global RNG);
    the paper's weight is lambda = 10. The norm's target 1 keeps D near 1-Lipschitz."""
    e = torch.rand(x_real.shape[0], *[1] * (x_real.dim() - 1), device=x_real.device)
    x = (e * x_real.detach() + (1 - e) * x_fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x, y).sum(), x, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


PENALTIES: dict[str, Penalty] = {
    "r1": r1,
    "r2": r2,
    "wgan-gp": wgan_gp,
}
