"""An exponential moving average of G's weights (Karras et al. 2018, sec. A.1; Yazici et al. 2019).

The average is a module of its own, "g_ema" in `Bundle.modules`, so checkpoints, final weights
and rollbacks carry it like any network, and it samples, is evaluated and picks the best
checkpoint (`sampler_name`). After every G update, with decay beta (`train.ema`):

    theta_ema <- beta theta_ema + (1 - beta) theta

so after k updates from theta_ema = theta_0 it is beta^k theta_0 + (1 - beta) sum_i beta^(k-i) theta_i:
an average over the last ~1 / (1 - beta) steps (1,000 for 0.999), which smooths out the
oscillation of G around the game's equilibrium.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def average_of(g: nn.Module) -> nn.Module:
    """A copy of `g` to hold its average: the same weights now, and no gradients ever."""
    return copy.deepcopy(g).requires_grad_(False)


@torch.no_grad()
def update_average(average: nn.Module, g: nn.Module, decay: float) -> None:
    """theta_ema <- decay theta_ema + (1 - decay) theta for every parameter; buffers (batch-norm
    statistics) are copied, a stand-in until the epoch's end measures the average's own
    (`ganlab.train.standing_stats`)."""
    torch._foreach_lerp_(list(average.parameters()), list(g.parameters()), 1.0 - decay)
    for mine, theirs in zip(average.buffers(), g.buffers()):
        mine.copy_(theirs)
