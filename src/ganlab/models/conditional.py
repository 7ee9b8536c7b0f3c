"""Class labels into G and D (`model.conditional`): the pieces every conditional network shares.

G: any generator becomes conditional by reading z concatenated with a code of y
(`LabelledGenerator`): one-hot y for "concat" (Mirza & Osindero 2014), a learned embedding for
"projection". D: "concat" appends one-hot y to D's input (as features, or as constant image
channels for a convolutional D); "projection" adds <embed(y), phi(x)> to D's logit, where phi(x)
are the features D's last linear layer reads (Miyato & Koyama 2018, eq. 3).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.config import ConfigError, RunConfig
from ganlab.config.schema import MLPDiscriminatorConfig
from ganlab.data.spec import DatasetSpec
from ganlab.models.minibatch import minibatch_std
from ganlab.models.mlp import MLPDiscriminator

Tensor = torch.Tensor


def num_labels(config: RunConfig, spec: DatasetSpec) -> int:
    """The classes the networks are conditioned on: 0 for an unconditional run; ConfigError
    when `model.conditional` asks for labels that the dataset does not have, or with a switch
    whose fakes would reach D without their labels."""
    if config.model.conditional == "none":
        return 0
    if spec.num_classes < 2:
        raise ConfigError(f"model.conditional: dataset {spec.name!r} has no class labels to condition on")
    if config.train.replay > 0:  # the replay buffer keeps old fakes, not the labels they were drawn for
        raise ConfigError("train.replay: replayed fakes keep no labels, so a conditional D cannot judge them; use 0")
    return spec.num_classes


def balanced_labels(n: int, num_classes: int, device: torch.device | str = "cpu") -> Tensor:
    """int64 (n,): 0, 1, ..., num_classes - 1, 0, 1, ...: every class equally often (to within one)."""
    return torch.arange(n, device=device) % num_classes


def one_hot(y: Tensor, num_classes: int, dtype: torch.dtype) -> Tensor:
    """float (B, num_classes) of labels y (B,)."""
    return F.one_hot(y, num_classes).to(dtype)


def require_labels(y: Tensor | None) -> Tensor:
    """y itself; a conditional D cannot judge a sample without the class it claims to be."""
    if y is None:
        raise ValueError("a conditional discriminator needs the class labels y, got None")
    return y


class LabelledGenerator(nn.Module):
    """A conditional G: `inner` (any generator, built for latent_dim + num_classes inputs) reads
    z (B, latent_dim) concatenated with a code of y (B,): one-hot, or a learned embedding of
    num_classes dimensions (initialised N(0, 1), z's own scale).

    Called without y (the monitors' probe, unconditional callers) it draws `balanced_labels`:
    every class equally often, in a fixed order.
    """

    def __init__(self, inner: nn.Module, num_classes: int, encoding: str):
        super().__init__()
        self.inner = inner
        self.num_classes = num_classes
        self.embedding = nn.Embedding(num_classes, num_classes) if encoding == "embedding" else None

    def initialise(self, scheme: str) -> "LabelledGenerator":
        """The inner G's initialisation; the embedding keeps its N(0, 1)."""
        self.inner.initialise(scheme)
        return self

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if y is None:
            y = balanced_labels(z.shape[0], self.num_classes, z.device)
        code = one_hot(y, self.num_classes, z.dtype) if self.embedding is None else self.embedding(y)
        return self.inner(torch.cat([z, code.to(z.dtype)], dim=1))


class Projection(nn.Module):
    """<embed(y), h> (B,) for features h (B, F) and labels y (B,): the class term of the
    projection discriminator. The embedding is Glorot-uniform whatever `model.init` says, as in
    Miyato & Koyama's code: PyTorch's N(0, 1) would make this term dwarf D's logit at the start.
    `model.d.spectral_norm` leaves it as it is (their code normalises it too)."""

    def __init__(self, num_classes: int, features: int):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, features)
        nn.init.xavier_uniform_(self.embedding.weight)

    def forward(self, h: Tensor, y: Tensor) -> Tensor:
        return (self.embedding(y) * h).sum(dim=1)


class ConditionalMLPDiscriminator(MLPDiscriminator):
    """The fully connected D with labels: "concat" reads x flattened with one-hot y appended
    (B, prod(shape) + K); "projection" adds `Projection` of its last hidden features (with the
    minibatch-std feature when on) to the logit. Packing is refused by the config."""

    def __init__(self, config: MLPDiscriminatorConfig, data_shape: tuple[int, ...], num_classes: int, mode: str):
        extra = num_classes if mode == "concat" else 0
        super().__init__(config, (math.prod(data_shape) + extra,))
        self.num_classes = num_classes
        self.projection = Projection(num_classes, self.head.in_features) if mode == "projection" else None

    @classmethod
    def from_config(cls, config: RunConfig, spec: DatasetSpec) -> "ConditionalMLPDiscriminator":
        return cls(config.model.d, spec.shape, num_labels(config, spec), config.model.conditional)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        y = require_labels(y)
        x = x.flatten(1)
        if self.projection is None:
            return self._judge(torch.cat([x, one_hot(y, self.num_classes, x.dtype)], dim=1))
        h = self.body(x)  # (B, hidden[-1])
        if self.std_group:
            h = minibatch_std(h, self.std_group)
        return self.head(h).squeeze(1) + self.projection(h, y)
