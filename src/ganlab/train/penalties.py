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

PENALTIES: dict[str, Penalty] = {}
