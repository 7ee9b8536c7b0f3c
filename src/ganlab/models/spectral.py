"""Spectral normalisation (Miyato et al. 2018) of a whole network."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def spectral_norm_(module: nn.Module) -> nn.Module:
    """Every Linear, Conv2d and ConvTranspose2d weight W of `module` replaced, in place, by W / sigma(W).

    sigma is W's largest singular value (a conv's weight read as a (out, in * kh * kw) matrix),
    estimated by one power iteration per forward in train mode; eval mode reuses the last
    estimate. The iteration's vectors `u` and `v` are buffers, so they are saved and restored
    with the weights and a resumed run continues the same iteration. Registering draws `u` and
    `v` from the global RNG: call it after the weights are initialised (so the first estimate is
    of those weights) and only when the switch is on.
    """
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):  # torch reads a transposed one by its outputs
            spectral_norm(layer)
    return module
