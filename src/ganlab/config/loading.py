"""Configs in and out: shipped presets (with their `base:` chains), YAML files, dotted overrides,
validated into a `RunConfig`; a bad value is a `ConfigError` naming the field and the reason,
before anything is written.
"""

from __future__ import annotations

import copy
import difflib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ganlab.config.schema import RunConfig
from ganlab.errors import GanlabError


class ConfigError(GanlabError):
    """A config the user gave is invalid; the message names the field and the reason."""


def _format_validation(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"] if str(p) not in ("mlp", "conv")) or "<root>"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        got = e.get("input")
        lines.append(f"{field}: {msg} (got {got!r})" if e["type"] != "missing" else f"{field}: {msg}")
    return f"invalid config from {source}: " + "; ".join(lines)


def _validate(data: dict[str, Any], source: str) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation(err, source)) from None


def _parse_value(text: str) -> Any:
    """Parse an override's value as YAML, so `5` is an int, `0.3` a float, `[8,16]` a list."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides to a nested dict (a copy); unknown keys are caught later.

    An override of a section's `kind` (`model.d.kind=dcgan`) replaces the section with that
    kind's defaults, as a preset's `base:` does: the other keys belonged to the old kind. Kinds
    are set first, so the section's other overrides apply to the new kind in any order.
    """
    data = copy.deepcopy(data)
    parsed = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. train.epochs=5")
        parsed.append((item, key.strip().split("."), _parse_value(value)))
    parsed.sort(key=lambda override: override[1][-1] != "kind")  # stable: kinds first
    for item, parts, value in parsed:
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
            node = child
        if parts[-1] == "kind" and node.get("kind", value) != value:
            node.clear()
        node[parts[-1]] = value
    return data


def preset_names() -> list[str]:
    """Names of the presets shipped with ganlab, sorted."""
    folder = resources.files("ganlab") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_text(name: str) -> str:
    """The YAML text of a shipped preset; ConfigError names the known presets if it is unknown."""
    path = resources.files("ganlab") / "presets" / f"{name}.yaml"
    if not path.is_file():
        names = preset_names()
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown preset {name!r}; {hint}known presets: {', '.join(names)}")
    return path.read_text()


def _load_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML ({getattr(err, 'problem', None) or 'unreadable'}{where})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def resolve_preset_dict(name: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A preset as a nested dict, with its `base:` chain merged in (the child wins)."""
    if name in _seen:
        raise ConfigError(f"preset {name!r} inherits from itself: {' -> '.join(_seen + (name,))}")
    data = _load_yaml(preset_text(name), f"preset {name!r}")
    base = data.pop("base", None)
    if base is None:
        return data
    return _deep_merge(resolve_preset_dict(base, _seen + (name,)), data)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        old = out.get(key)
        # A section of another `kind` (a conv generator over an MLP one) replaces, not merges.
        if isinstance(value, dict) and isinstance(old, dict) and value.get("kind", old.get("kind")) == old.get("kind"):
            out[key] = _deep_merge(old, value)
        else:
            out[key] = value
    return out


def load_preset(name: str, overrides: list[str] | None = None) -> RunConfig:
    """Build a RunConfig from a shipped preset and dotted overrides."""
    data = apply_overrides(resolve_preset_dict(name), overrides or [])
    data.setdefault("name", name)
    return _validate(data, f"preset {name!r}" + (" with overrides" if overrides else ""))


def config_with_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """A copy of `config` with dotted overrides applied, validated again."""
    return _validate(apply_overrides(config.model_dump(mode="json"), overrides), f"config {config.name!r} with overrides")


def load_config_file(path: Path, overrides: list[str] | None = None) -> RunConfig:
    """Build a RunConfig from a YAML file (a saved `config.yaml` or the user's own)."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror}") from None
    data = _load_yaml(text, str(path))
    if "base" in data:
        data = _deep_merge(resolve_preset_dict(data.pop("base")), data)
    return _validate(apply_overrides(data, overrides or []), str(path))


def to_yaml(config: RunConfig) -> str:
    """The fully resolved config as YAML, loadable by `load_config_file`."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
