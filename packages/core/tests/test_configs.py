"""The one configuration system: rules declared on fields, one validator, one error, TOML/JSON."""

from __future__ import annotations

import json

import pytest

from acbo_core.configs import (
    MAX_SEED,
    apply_overrides,
    choice,
    configclass,
    flag,
    from_dict,
    integer,
    interval,
    load_toml,
    number,
    number_or_interval,
    section,
    seeds,
    sequence,
    to_dict,
)
from acbo_core.errors import ConfigError


@configclass
class Inner:
    width: int = integer(4, 1, 64)
    rates: tuple[float, ...] = sequence((0.1,), number(0.1, 0.0, low_open=True), min_items=1)


@configclass
class Outer:
    name: str = choice("x", ("x", "y"))
    inner: Inner = section(Inner())
    seed: int = seeds(0)
    on: bool = flag(True)
    span: tuple[int, int] = interval((1, 2), 1, 10, integers=True)
    degree: float | tuple[float, float] = number_or_interval(2.0, 0.0, low_open=True)

    def _check(self) -> None:
        if self.name == "y" and self.inner.width > 8:
            raise ConfigError("Outer: name 'y' needs inner.width <= 8")


def test_each_field_is_checked_by_its_declared_rule_with_the_field_named():
    cases = [
        (dict(name="z"), r"Outer.name must be one of \['x', 'y'\], got 'z'"),
        (dict(seed=-1), "Outer.seed must be an int in"),
        (dict(seed=MAX_SEED + 1), "Outer.seed"),
        (dict(on=1), "Outer.on must be true or false, got 1"),
        (dict(span=(3, 2)), r"Outer.span must be \[lo, hi\]"),
        (dict(span=(1, 11)), r"hi <= 10"),
        (dict(degree=0.0), "Outer.degree must be a finite number > 0.0"),
        (dict(degree=(1.0, float("nan"))), "Outer.degree"),
        (dict(inner="wide"), "Outer.inner must be a Inner, got str"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ConfigError, match=message):
            Outer(**kwargs)
    for kwargs, message in [(dict(width=True), "Inner.width must be an int >= 1 and <= 64"),
                            (dict(width=65), "Inner.width"),
                            (dict(rates=()), "Inner.rates must hold at least 1"),
                            (dict(rates=(1.0, float("inf"))), r"Inner.rates\[1\] must be a "
                             "finite number")]:
        with pytest.raises(ConfigError, match=message):
            Inner(**kwargs)


def test_rules_across_fields_run_after_the_fields_own():
    assert Outer(name="y", inner=Inner(width=8)).inner.width == 8
    with pytest.raises(ConfigError, match="needs inner.width <= 8"):
        Outer(name="y", inner=Inner(width=9))


def test_lists_become_tuples_and_ints_of_number_fields_floats_so_configs_hash():
    a = Outer(inner=Inner(rates=[1, 2.5]), span=[2, 3], degree=[1, 2])
    assert a.inner.rates == (1.0, 2.5) and isinstance(a.inner.rates[0], float)
    assert a.span == (2, 3) and a.degree == (1.0, 2.0)
    assert hash(a) == hash(Outer(inner=Inner(rates=(1.0, 2.5)), span=(2, 3), degree=(1.0, 2.0)))


def test_from_dict_names_unknown_keys_and_bad_values_by_dotted_key():
    out = from_dict(Outer, {"name": "y", "inner": {"width": 8, "rates": [1, 2.5]}})
    assert out == Outer("y", Inner(8, (1.0, 2.5)))
    with pytest.raises(ConfigError, match="unknown configuration key 'inner.depth'"):
        from_dict(Outer, {"inner": {"depth": 3}})
    with pytest.raises(ConfigError, match="^inner.width must be an int"):
        from_dict(Outer, {"inner": {"width": "wide"}})
    with pytest.raises(ConfigError, match="^seed must be an int"):
        from_dict(Outer, {"seed": 1.5})
    with pytest.raises(ConfigError, match="inner: expected a table"):
        from_dict(Inner, 3, "inner")


def test_to_dict_and_from_dict_round_trip_through_json():
    config = Outer(name="y", inner=Inner(width=2, rates=(0.5, 3.0)), seed=(1, 2), span=(2, 9),
                   degree=(0.5, 1.5))
    data = json.loads(json.dumps(to_dict(config)))
    assert data["inner"] == {"width": 2, "rates": [0.5, 3.0]}
    assert from_dict(Outer, data) == config


def test_a_config_field_without_a_rule_is_refused_when_built():
    @configclass
    class Loose:
        size: int = 3

    with pytest.raises(AssertionError, match="Loose.size declares no rule"):
        Loose()


def test_toml_files_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("name = 'y'\n[inner]\nwidth = 7\n")
    assert from_dict(Outer, load_toml(path)).inner.width == 7
    path.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")
    data = apply_overrides({"a": {"b": 1}}, ["a.b=2", "a.c=hello", "d.e=[1, 2]"])
    assert data == {"a": {"b": 2, "c": "hello"}, "d": {"e": [1, 2]}}
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["nonsense"])
