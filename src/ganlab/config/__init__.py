"""Every knob of a run: the config sections as frozen pydantic models (`schema`), and presets, YAML
files and dotted overrides read into them and written back (`loading`)."""

from ganlab.config.loading import (
    ConfigError,
    apply_overrides,
    config_with_overrides,
    load_config_file,
    load_preset,
    preset_names,
    preset_text,
    resolve_preset_dict,
    to_yaml,
)
from ganlab.config.schema import (
    LOSS_NAMES,
    PENALTY_NAMES,
    ConvDiscriminatorConfig,
    ConvGeneratorConfig,
    DataConfig,
    HealthStatus,
    MLPDiscriminatorConfig,
    MLPGeneratorConfig,
    ModelConfig,
    MonitorConfig,
    NoiseConfig,
    OptimConfig,
    OptimizerConfig,
    RunConfig,
    TrainConfig,
)

__all__ = [
    "ConfigError", "apply_overrides", "config_with_overrides", "load_config_file", "load_preset", "preset_names",
    "preset_text", "resolve_preset_dict", "to_yaml", "LOSS_NAMES", "PENALTY_NAMES", "ConvDiscriminatorConfig",
    "ConvGeneratorConfig", "DataConfig", "HealthStatus", "MLPDiscriminatorConfig", "MLPGeneratorConfig", "ModelConfig",
    "MonitorConfig", "NoiseConfig", "OptimConfig", "OptimizerConfig", "RunConfig", "TrainConfig",
]  # fmt: skip
