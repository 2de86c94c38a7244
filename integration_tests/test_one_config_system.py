"""Every layer's configurations use the one configuration system of acbo_core.configs: each
field declares its rule, one validator checks it, one error type reports it, and every config
reads back from the plain data it writes (what TOML files and checkpoint sidecars hold)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pathlib
import pkgutil

import pytest

from acbo_core.configs import from_dict, to_dict
from acbo_core.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("acbo_core", "acbo_expert", "acbo_surrogate", "acbo_acquisition", "acbo_training",
            "acbo")


def _config_classes() -> list[type]:
    found: dict[str, type] = {}
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if (isinstance(value, type) and dataclasses.is_dataclass(value)
                        and value.__module__ == info.name
                        and (value.__name__.endswith("Config")
                             or value.__name__ == "SCMDistribution")):
                    found[f"{info.name}.{value.__name__}"] = value
    return [found[k] for k in sorted(found)]


CONFIGS = _config_classes()


def test_the_configs_of_every_layer_are_found():
    names = {cls.__name__ for cls in CONFIGS}
    assert {"ParentScaleConfig", "ModelConfig", "PolicyConfig", "TrainingConfig",
            "SurrogateTrainingConfig", "ACBOConfig", "BenchmarkConfig", "SCMDistribution"} <= names
    assert len(CONFIGS) >= 20


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_each_config_declares_a_rule_per_field_and_round_trips(cls):
    default = cls()  # validate() asserts a rule on every field
    assert from_dict(cls, json.loads(json.dumps(to_dict(default)))) == default or \
        cls.__eq__ is object.__eq__
    first = dataclasses.fields(cls)[0]
    with pytest.raises(ConfigError, match=f"unknown configuration key 'no_such_{first.name}'"):
        from_dict(cls, {f"no_such_{first.name}": 1})
    with pytest.raises(ConfigError, match=f"^{first.name}"):
        from_dict(cls, {first.name: object()})


def test_no_config_is_validated_by_hand():
    """No ``__post_init__`` and no type checks written per field: the rules say it."""
    for file in ROOT.glob("packages/*/src/**/*.py"):
        text = file.read_text()
        assert "isinstance(self." not in text.replace("isinstance(self.rng", ""), file
    for cls in CONFIGS:
        assert cls.__post_init__.__qualname__ == "validate", cls
