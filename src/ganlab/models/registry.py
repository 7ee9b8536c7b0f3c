"""The architectures, by `kind`, for G and D: one registry line each.

An architecture is an `nn.Module` class with `from_config(config, spec)` (it reads its own
section, `config.model.g` or `config.model.d`, and the data's shape) and `initialise(scheme)`
(`model.init`). G is called as `g(z, y)` and D as `d(x, y)`, where `y` holds class labels that an
unconditional network ignores.
"""

from __future__ import annotations

from torch import nn

from ganlab.config import RunConfig
from ganlab.data.registry import dataset_spec
from ganlab.data.spec import DatasetSpec
from ganlab.models.conditional import ConditionalMLPDiscriminator, LabelledGenerator, num_labels
from ganlab.models.conv import ConvGenerator
from ganlab.models.conv_d import ConvDiscriminator
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.models.mlp import MLPDiscriminator, MLPGenerator
from ganlab.models.spectral import spectral_norm_

GENERATORS: dict[str, type] = {"mlp": MLPGenerator, "conv": ConvGenerator, "dcgan": DCGANGenerator}
DISCRIMINATORS: dict[str, type] = {"mlp": MLPDiscriminator, "conv": ConvDiscriminator, "dcgan": DCGANDiscriminator}
# With `model.conditional`: every G kind is wrapped (`LabelledGenerator`); these D kinds take
# labels themselves (`ganlab.config.schema.CONDITIONAL_D_KINDS` names them for the config).
CONDITIONAL_DISCRIMINATORS: dict[str, type] = {"mlp": ConditionalMLPDiscriminator, "dcgan": DCGANDiscriminator}
# G's code of the labels, by `model.conditional`.
LABEL_ENCODINGS = {"concat": "onehot", "projection": "embedding"}


def build_generator(config: RunConfig, spec: DatasetSpec | None = None) -> nn.Module:
    """The generator `config.model.g` describes, for the dataset's shape, initialised from the
    current global RNG state as `model.init` says, then spectrally normalised if it says so."""
    spec = spec or dataset_spec(config.data)
    classes = num_labels(config, spec)
    if classes:
        # The inner G reads z and the labels' code (num_classes wide) as one latent vector.
        wider = config.model_copy(update={"noise": config.noise.model_copy(update={"dim": config.noise.dim + classes})})
        inner = GENERATORS[config.model.g.kind].from_config(wider, spec)
        g = LabelledGenerator(inner, classes, LABEL_ENCODINGS[config.model.conditional])
    else:
        g = GENERATORS[config.model.g.kind].from_config(config, spec)
    return _normalised(g.initialise(config.model.init), config.model.g.spectral_norm)


def build_discriminator(config: RunConfig, spec: DatasetSpec | None = None) -> nn.Module:
    """The discriminator `config.model.d` describes, built as `build_generator` does."""
    kinds = DISCRIMINATORS if config.model.conditional == "none" else CONDITIONAL_DISCRIMINATORS
    d = kinds[config.model.d.kind].from_config(config, spec or dataset_spec(config.data))
    return _normalised(d.initialise(config.model.init), config.model.d.spectral_norm)


def _normalised(module: nn.Module, spectral: bool) -> nn.Module:
    # After the initialisation: `spectral_norm_` hides each weight behind a parametrisation, and
    # its first power iterations should estimate the initialised weights.
    return spectral_norm_(module) if spectral else module
