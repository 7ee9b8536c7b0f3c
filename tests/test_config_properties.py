"""Properties of configs and overrides, on generated input (hypothesis): an override either gives a
valid config or a ConfigError, never another exception; a valid config round-trips through its
YAML; applying overrides never changes the dict it is given (issue 14)."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("hypothesis", reason="property tests need hypothesis: pip install hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ganlab.config import ConfigError, apply_overrides, load_config_file, load_preset, preset_names, to_yaml  # noqa: E402

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PRESETS = sorted(preset_names())


def _leaves(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: every field of a config dump by its dotted key."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


KEYS = sorted({key for name in ("ring", "fc", "conv-g") for key in _leaves(load_preset(name).model_dump(mode="json"))})

# Values as a user might type them, valid or not: numbers, words, YAML of every kind, junk.
scalars = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["true", "no", "null", "~", "", ".inf", "-.nan", "1e400", "0x1F", "2026-12-02", "[1, [2]]", "{a: 1}",
                     "[", "{", "!!python/object:os.system", "&a [*a]", "'quoted", "mlp", "conv", "adam", "ns", "none"]),
    st.text(max_size=12),
)  # fmt: skip
keys = st.one_of(
    st.sampled_from(KEYS),
    st.sampled_from(KEYS).map(lambda key: key + ".extra"),  # a section where a value is
    st.sampled_from(KEYS).map(lambda key: key.rpartition(".")[0] or key),  # a value where a section is
    st.text(alphabet="abc._= ", max_size=10),
)
overrides = st.one_of(st.tuples(keys, scalars).map("=".join), st.text(max_size=20))


@SETTINGS
@given(preset=st.sampled_from(PRESETS), items=st.lists(overrides, max_size=4))
def test_any_override_gives_a_valid_config_or_a_config_error(preset: str, items: list[str]):
    try:
        config = load_preset(preset, items)
    except ConfigError as err:
        assert str(err) and "\n" not in str(err)  # one line, naming what is wrong
    else:
        assert config.model_dump(mode="json")  # a complete config


# Values of each field's own type: most of these give valid configs.
def _near(value: Any) -> st.SearchStrategy[Any]:
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(max(0, value // 2), 2 * value + 1)
    if isinstance(value, float):  # fractions (dropout, slopes, betas) stay below 1
        return st.floats(0.0, 0.9) if value < 1 else st.floats(value / 2, 2 * value)
    return st.just(value)


@st.composite
def valid_configs(draw: st.DrawFn):
    preset = draw(st.sampled_from(PRESETS))
    leaves = _leaves(load_preset(preset).model_dump(mode="json"))
    chosen = draw(st.lists(st.sampled_from(sorted(leaves)), min_size=1, max_size=3, unique=True))
    items = [f"{key}={yaml.safe_dump(draw(_near(leaves[key])), default_flow_style=True).strip()}" for key in chosen]
    items = [item.removesuffix("\n...") for item in items]
    try:
        return load_preset(preset, items)
    except ConfigError:
        return load_preset(preset)  # an invalid combination: the preset itself


@SETTINGS
@given(config=valid_configs())
def test_a_valid_config_round_trips_through_its_yaml(config):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(to_yaml(config))
        again = load_config_file(path)
    assert again == config
    assert to_yaml(again) == to_yaml(config)


@SETTINGS
@given(preset=st.sampled_from(PRESETS), items=st.lists(overrides, max_size=4))
def test_apply_overrides_never_changes_its_input(preset: str, items: list[str]):
    data = load_preset(preset).model_dump(mode="json")
    before = copy.deepcopy(data)
    try:
        apply_overrides(data, items)
    except ConfigError:
        pass  # refusing is fine; changing the caller's dict is not
    assert data == before
