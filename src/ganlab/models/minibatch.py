"""Discriminators that look at several samples at once: PacGAN packing and the minibatch
standard deviation feature. Both let D see a batch's diversity, which a collapsed G lacks.

D is called on `cat([x_real, x_fake])` in one pass (`ganlab.train.step`), on fakes alone (G's
step) and on reals or interpolates alone (penalties). So that a pack or a group never mixes real
and fake samples, both split an even batch into its two halves and never cross the middle; on a
batch of one kind the split is harmless.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import torch

Tensor = torch.Tensor
EPSILON = 1e-8  # under the square root, as in StyleGAN: a group of identical samples has a finite gradient


def _halves(n: int) -> tuple[int, ...]:
    """The sizes of the parts of a batch of n that D treats apart: an even batch may be real + fake."""
    return (n // 2, n // 2) if n % 2 == 0 else (n,)


@lru_cache(maxsize=64)
def _pack_indices(n: int, m: int, device: torch.device) -> Tensor:
    """The packs of a batch of n, as indices into it: int64 (P, m), the real half's packs first.

    In each half, consecutive samples are packed m at a time; a half of h samples with h % m > 0
    has one more pack, of its last m samples (of a half smaller than m: its samples again,
    cyclically). So every sample is judged, each pack lies within one half, and each half has
    ceil(h / m) packs: the first half of D's logits are still the real batch's.
    """
    packs, start = [], 0
    for h in _halves(n):
        half = torch.arange(h // m * m).view(h // m, m)
        if h % m:
            half = torch.cat([half, torch.arange(h - m, h).remainder(h).view(1, m)])
        packs.append(half + start)
        start += h
    return torch.cat(packs).to(device)


def judge_packs(judge: Callable[[Tensor], Tensor], x: Tensor, m: int) -> Tensor:
    """PacGAN (Lin et al. 2018): D's logits (P,) for samples x (N, C, *rest) judged m at a time,
    P = N / m when m divides each half of the batch (`_pack_indices` says how leftovers are
    packed). `judge` maps packs stacked along the channels, (P, m * C, *rest), to their logits.

    The losses take the mean over whatever number of logits D returns, and `train_step` splits
    them in halves, so a pack's logit counts once. A penalty on the gradient of sum(D(x)) with
    respect to each sample sees that sample's share of its pack's gradient: R1 comes out 1/m of
    the packed D's own (half the mean over packs of ||grad_pack D||^2).
    """
    if m == 1:
        return judge(x)
    packs = x[_pack_indices(x.shape[0], m, x.device)]  # (P, m, C, *rest)
    return judge(packs.flatten(1, 2))


def minibatch_std(h: Tensor, group: int) -> Tensor:
    """Karras et al. 2018 (ProGAN; StyleGAN's group size): h (N, C, *spatial) -> (N, C + 1, *spatial).

    The extra channel is, for each group of s consecutive samples, the standard deviation of
    every feature (each channel at each position) across the group, averaged over the features:
    one number per group, given to each of its members. s = gcd(group, half the batch) (of an odd
    batch, the batch), so groups tile each half and never mix real and fake samples; a batch
    whose half is a multiple of `group` (128 and MNIST's last 96 for the default 4) is in groups
    of `group`.
    """
    n = h.shape[0]
    s = math.gcd(group, _halves(n)[0])
    grouped = h.reshape(n // s, s, *h.shape[1:])  # (groups, s, C, *spatial)
    std = (grouped.var(dim=1, unbiased=False) + EPSILON).sqrt()  # (groups, C, *spatial)
    stat = std.flatten(1).mean(1).repeat_interleave(s)  # (N,)
    return torch.cat([h, stat.view(n, 1, *[1] * (h.ndim - 2)).expand(n, 1, *h.shape[2:])], dim=1)
