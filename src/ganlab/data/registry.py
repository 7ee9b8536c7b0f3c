"""The registered datasets: one line each."""

from __future__ import annotations

from ganlab.config import ConfigError, DataConfig
from ganlab.data.image_folder import FOLDER_KEYS, IMAGE_FOLDER
from ganlab.data.mnist import MNIST
from ganlab.data.ring import RING
from ganlab.data.spec import DatasetSpec
from ganlab.data.stacked_mnist import STACKED_MNIST

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, RING, STACKED_MNIST, IMAGE_FOLDER)}


def dataset_spec(data: str | DataConfig) -> DatasetSpec:
    """The registered spec of a dataset, by name or by a config's data section; ConfigError names
    the known ones otherwise.

    Given the data section, a spec with `configure` comes as that config shapes it (the image
    folder: its shape and classes), and a spec without refuses the image folder's keys; by name,
    it comes as registered (enough for its display, scorer and best-by metric).
    """
    name = data if isinstance(data, str) else data.dataset
    if name not in DATASETS:
        raise ConfigError(f"data.dataset: unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    if isinstance(data, str):
        return spec
    if spec.configure is not None:
        return spec.configure(data)
    if set_keys := [key for key in FOLDER_KEYS if getattr(data, key) != DataConfig.model_fields[key].default]:
        keys = ", ".join(f"data.{key}" for key in set_keys)
        raise ConfigError(f"{keys}: only the image folder dataset reads them (data.dataset={IMAGE_FOLDER.name}), not {name!r}")
    return spec
