"""Study specs: which configs to train, which is the control of which variant, what the study said.

A spec is a YAML file, validated here (unknown keys and unknown presets fail with the field's
name). Shipped specs live in `ganlab/study/specs/`; a user's own file works the same way:

    name: my-study
    set: [train.ring_size=2560]          # overrides for every run of the study
    configs:                             # named configs: a preset plus overrides
      ring-narrow: {preset: ring, set: ["model.g.hidden=[32, 32]"]}
    metrics: [modes_covered, high_quality]
    eval_points: 5                       # metric curves: evaluate 5 times per run
    experiments:
      - id: "1"
        title: Narrow generator
        control: ring                    # a shipped preset or a name from `configs`
        variants: [ring-narrow]          # or {config: ring-narrow, expected: worse, claim: ...}
        claim: "narrow G is worse"
        expected: worse                  # better | worse | same: the study's direction

A study directory records the resolved spec with its seeds and epochs scale in `study.yaml`, so
that running the study again resumes it and `ganlab study status` can read it.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ganlab.config import ConfigError, RunConfig, apply_overrides, preset_names, resolve_preset_dict
from ganlab.errors import GanlabError

Expected = Literal["better", "worse", "same"]
# Names become directory names: keep them to safe characters.
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
DEFAULT_METRICS = ["fid", "kid", "coverage", "classes_covered"]
STUDY_FILE = "study.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NamedConfig(_Model):
    """A shipped preset plus dotted overrides (`--set` syntax)."""

    preset: str
    set: list[str] = []
    description: str = ""


class Variant(_Model):
    """One variant of an experiment; `expected` and `claim` default to the experiment's."""

    config: str
    expected: Expected | None = None
    claim: str | None = None


class Experiment(_Model):
    id: Annotated[str, Field(min_length=1)]
    title: str = ""
    control: str
    variants: Annotated[list[Variant], Field(min_length=1)]
    claim: str = ""
    expected: Expected = "same"

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("variants", mode="before")
    @classmethod
    def _variant_shorthand(cls, value: Any) -> Any:
        """`variants: [a, b]` is short for `[{config: a}, {config: b}]`; one name needs no list."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [{"config": item} if isinstance(item, str) else item for item in value]
        return value

    def expected_of(self, variant: Variant) -> Expected:
        return variant.expected or self.expected

    def claim_of(self, variant: Variant) -> str:
        return variant.claim if variant.claim is not None else self.claim


class StudySpec(_Model):
    """A study: experiments comparing variants with their controls over several seeds."""

    name: Annotated[str, Field(pattern=SAFE_NAME)]
    description: str = ""
    source: str = ""  # where the claims come from
    set: list[str] = []  # overrides applied to every run
    configs: dict[str, NamedConfig] = {}
    metrics: Annotated[list[str], Field(min_length=1)] = DEFAULT_METRICS
    # Metric curves: score samples during training about this many times per run (sets
    # train.eval_every = ceil(epochs / eval_points) after scaling); None leaves eval_every alone.
    eval_points: Annotated[int, Field(ge=1)] | None = None
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    experiments: Annotated[list[Experiment], Field(min_length=1)]

    @model_validator(mode="after")
    def _names_and_metrics_are_valid(self) -> "StudySpec":
        ids = [e.id for e in self.experiments]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"experiment ids must be unique, repeated: {', '.join(duplicates)}")
        for name in self.configs:
            if not re.match(SAFE_NAME, name):
                raise ValueError(f"configs: name {name!r} must match {SAFE_NAME} (it names a directory)")
        from ganlab.names import ALL_METRICS, RING_METRICS

        known = [*ALL_METRICS, *RING_METRICS]
        unknown = [m for m in self.metrics if m not in known]
        if unknown:
            raise ValueError(f"metrics: unknown {', '.join(unknown)}; known: {', '.join(known)}")
        return self

    def config_names(self) -> list[str]:
        """Every config the study trains, in order of first use (controls before variants)."""
        names: list[str] = []
        for experiment in self.experiments:
            for name in [experiment.control, *(v.config for v in experiment.variants)]:
                if name not in names:
                    names.append(name)
        return names


class StudyError(GanlabError):
    """A study spec or study directory is invalid; the message names the file and the field."""


def _format(err: ValidationError, source: str) -> str:
    parts = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        parts.append(f"{field}: {msg}" + (f" (got {e['input']!r})" if e["type"] not in ("missing",) else ""))
    return f"invalid study spec {source}: " + "; ".join(parts)


def parse_spec(data: Any, source: str) -> StudySpec:
    """Validate a spec given as parsed YAML; StudyError names the field and the problem."""
    if not isinstance(data, dict):
        raise StudyError(f"invalid study spec {source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as err:
        raise StudyError(_format(err, source)) from None
    check_presets(spec, source)
    return spec


def check_presets(spec: StudySpec, source: str) -> None:
    """Every config named by an experiment must be a shipped preset or a `configs` entry."""
    known = set(preset_names())
    for name, named in spec.configs.items():
        if named.preset not in known:
            raise StudyError(
                f"invalid study spec {source}: configs.{name}.preset: unknown preset {named.preset!r}; "
                f"known presets: {', '.join(sorted(known))}"
            )
    for experiment in spec.experiments:
        fields = [("control", experiment.control)] + [
            (f"variants[{i}]", v.config) for i, v in enumerate(experiment.variants)
        ]
        for field, name in fields:
            if name not in known and name not in spec.configs:
                raise StudyError(
                    f"invalid study spec {source}: experiment {experiment.id!r} {field}: unknown preset {name!r}; "
                    f"known presets: {', '.join(sorted(known))}"
                    + (f"; configs of this spec: {', '.join(spec.configs)}" if spec.configs else "")
                )
        if experiment.control in (v.config for v in experiment.variants):
            raise StudyError(
                f"invalid study spec {source}: experiment {experiment.id!r}: "
                f"{experiment.control!r} is both the control and a variant"
            )


def spec_names() -> list[str]:
    """Names of the study specs shipped with ganlab, sorted."""
    folder = resources.files("ganlab.study") / "specs"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def spec_text(name_or_path: str | Path) -> tuple[str, str]:
    """(YAML text, source label) of a shipped spec name or a spec file path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        try:
            return path.read_text(), str(path)
        except OSError as err:
            raise StudyError(f"cannot read study spec {path}: {err.strerror}") from None
    shipped = resources.files("ganlab.study") / "specs" / f"{name_or_path}.yaml"
    if not shipped.is_file():
        raise StudyError(
            f"unknown study {str(name_or_path)!r}: expected a shipped study ({', '.join(spec_names())}) "
            "or a spec file ending in .yaml"
        )
    return shipped.read_text(), f"{name_or_path!s} (shipped)"


def load_spec(name_or_path: str | Path) -> StudySpec:
    """A shipped study by name, or a user's spec file, validated."""
    text, source = spec_text(name_or_path)
    return parse_spec(_yaml(text, f"study spec {source}"), source)


def _yaml(text: str, source: str) -> Any:
    """YAML `text`; StudyError in one line (where, and what the parser saw) when it is not YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise StudyError(f"{source}: not valid YAML ({getattr(err, 'problem', None) or 'unreadable'}{where})") from None


# Resolving configs ---------------------------------------------------------------------------


def run_overrides(spec: StudySpec, name: str, seed: int, epochs_scale: float) -> tuple[str, list[str]]:
    """(preset, overrides) that build config `name` for one seed: what `ganlab train` would get."""
    named = spec.configs.get(name)
    preset = named.preset if named else name
    overrides = [*spec.set, *(named.set if named else [])]
    if named:
        overrides.append(f"name={name}")
    data = apply_overrides(resolve_preset_dict(preset), overrides)
    epochs = (data.get("train") or {}).get("epochs", RunConfig().train.epochs)
    if not isinstance(epochs, int):
        raise StudyError(f"config {name!r}: train.epochs must be an integer, got {epochs!r}")
    epochs = scaled_epochs(epochs, epochs_scale)
    overrides += [f"train.seed={seed}", f"train.epochs={epochs}"]
    if spec.eval_points is not None:
        overrides.append(f"train.eval_every={-(-epochs // spec.eval_points)}")
        from ganlab.data.registry import DATASETS  # torch: only for specs with metric curves
        from ganlab.metrics.scorers import uses_evaluator

        dataset_name = (data.get("data") or {}).get("dataset", RunConfig().data.dataset)
        # An unknown dataset is refused by `resolve_config`, which names the field.
        dataset = DATASETS.get(dataset_name) if isinstance(dataset_name, str) else None
        if dataset is not None and uses_evaluator(dataset.scorer):
            # Curves of the metrics the verdicts compare (the ring's scorer always reports its own).
            from ganlab.names import ALL_METRICS

            curves = [m for m in spec.metrics if m in ALL_METRICS]
            if curves:
                overrides.append(f"train.eval_metrics=[{', '.join(curves)}]")
    return preset, overrides


def scaled_epochs(epochs: int, scale: float) -> int:
    """`epochs * scale`, rounded, at least 1."""
    return max(1, round(epochs * scale))


def resolve_config(spec: StudySpec, name: str, seed: int, epochs_scale: float) -> RunConfig:
    """The RunConfig of config `name` for one seed; StudyError names the config if it is invalid
    (an unknown dataset included)."""
    from ganlab.config import load_preset
    from ganlab.data.registry import dataset_spec

    preset, overrides = run_overrides(spec, name, seed, epochs_scale)
    try:
        config = load_preset(preset, overrides)
        dataset_spec(config.data.dataset)
        return config
    except ConfigError as err:
        raise StudyError(f"study {spec.name!r}, config {name!r}: {err}") from None


# The study directory's record -----------------------------------------------------------------


class StudyRecord(_Model):
    """What `study.yaml` holds: the resolved spec and the knobs of this study directory."""

    spec: StudySpec
    seeds: Annotated[int, Field(ge=1)]
    epochs_scale: Annotated[float, Field(gt=0.0)]
    eval_n: Annotated[int, Field(ge=11)]


def write_record(study_dir: Path, record: StudyRecord) -> None:
    """Write the study directory's study.yaml (the resolved spec and how it is run), atomically."""
    from ganlab.files import atomic_write_text

    study_dir.mkdir(parents=True, exist_ok=True)
    header = "# Written by `ganlab study run`: the study's spec, seeds and scale. Run it again to resume.\n"
    atomic_write_text(study_dir / STUDY_FILE, header + yaml.safe_dump(record.model_dump(mode="json"), sort_keys=False))


def read_record(study_dir: Path) -> StudyRecord:
    """The `study.yaml` of a study directory; StudyError if it is missing or invalid."""
    path = Path(study_dir) / STUDY_FILE
    if not path.is_file():
        raise StudyError(f"{study_dir} is not a study directory (no {STUDY_FILE})")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise StudyError(f"{path}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise StudyError(f"{path}: damaged (not UTF-8)") from None
    data = _yaml(text, str(path))
    if not isinstance(data, dict) or "spec" not in data:
        raise StudyError(f"{path}: expected keys spec, seeds, epochs_scale, eval_n")
    spec = parse_spec(data["spec"], f"{path} (spec)")
    try:
        return StudyRecord.model_validate({**data, "spec": spec})
    except ValidationError as err:
        raise StudyError(_format(err, str(path))) from None
