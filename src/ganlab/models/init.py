"""Weight initialisation schemes shared by the architectures."""

from __future__ import annotations

from torch import nn


def glorot_(module: nn.Module) -> nn.Module:
    """Glorot-uniform weights and zero biases on every Linear and Conv2d layer, as Keras (and so
    the study) initialises them; other layers keep PyTorch's defaults."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return module
