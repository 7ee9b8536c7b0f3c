"""The registered datasets: one line each."""

from __future__ import annotations

from ganlab.data.mnist import MNIST
from ganlab.data.ring import RING
from ganlab.data.spec import DatasetSpec
from ganlab.data.stacked_mnist import STACKED_MNIST
from ganlab.config import ConfigError

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, RING, STACKED_MNIST)}


def dataset_spec(name: str) -> DatasetSpec:
    """The registered spec of dataset `name` (a config's `data.dataset`); ConfigError names the
    known ones otherwise."""
    if name not in DATASETS:
        raise ConfigError(f"data.dataset: unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return DATASETS[name]
