"""One configuration system for every layer: settings declared once, checked by one validator.

A configuration is a frozen dataclass made with :func:`configclass`. Each field says what it
may hold where it is declared, with one of the field makers below::

    @configclass
    class PolicyConfig:
        hidden_dim: int = integer(128, 1, MAX_WIDTH)
        n_heads: int = integer(4, 1)

        def _check(self):  # rules that tie fields together, if any
            if self.hidden_dim % self.n_heads:
                raise ConfigError("PolicyConfig.n_heads must divide hidden_dim")

:func:`validate` runs every field's rule when the config is built, however it is built (in
Python or from a TOML table), then the class's ``_check``. Every refusal is a
:class:`~acbo_core.errors.ConfigError` whose message starts with ``ClassName.field`` and says
what the field must be and what it got; :func:`from_dict` (a TOML or JSON table, unknown keys
named) replaces the class name by the dotted key (``surrogate.learning_rate``), and
:func:`to_dict` writes a config back as plain data. Lists become tuples, so configs stay
hashable (jitted functions take them as static arguments).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import pathlib
import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from acbo_core.errors import ConfigError

__all__ = ["MAX_SEED", "configclass", "validate", "from_dict", "to_dict", "load_toml",
           "apply_overrides", "integer", "number", "flag", "text", "choice", "choices",
           "sequence", "interval", "number_or_interval", "seeds", "section"]

C = TypeVar("C")

MAX_SEED = 2**32 - 1
"""Largest seed: ``jax.random.key`` keeps 32 bits of an integer seed, so larger ones (and
negative ones) would silently give the same key as another seed."""

_RULE = "acbo.rule"


@dataclasses.dataclass(frozen=True)
class _Rule:
    """What one field may hold (see the field makers)."""

    kind: str  # int, number, flag, text, choice(s), sequence, interval, seeds, section
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    options: tuple[str, ...] = ()
    item: _Rule | None = None
    min_items: int = 0
    distinct: bool = False
    section: type | None = None
    why: str = ""


def _field(default: Any, rule: _Rule) -> Any:
    return dataclasses.field(default=default, metadata={_RULE: rule})


def integer(default: int, low: int = 0, high: int | None = None, *, why: str = "") -> Any:
    """An int in ``[low, high]`` (``high``: the largest size that fits in memory or makes sense;
    named in the message, as is ``why``)."""
    return _field(default, _Rule("int", low, high, why=why))


def number(default: float, low: float | None = None, high: float | None = None, *,
           low_open: bool = False, high_open: bool = False) -> Any:
    """A finite number within the bounds (open or closed at each end)."""
    return _field(default, _Rule("number", low, high, low_open, high_open))


def flag(default: bool) -> Any:
    """``True`` or ``False``."""
    return _field(default, _Rule("flag"))


def text(default: str) -> Any:
    """Any string."""
    return _field(default, _Rule("text"))


def choice(default: str, options: Sequence[str]) -> Any:
    """One of ``options``."""
    return _field(default, _Rule("choice", options=tuple(options)))


def choices(default: str | tuple[str, ...], options: Sequence[str]) -> Any:
    """One of ``options``, or a non-empty list of distinct ones (a setting that may name several
    options, one drawn at a time)."""
    return _field(default, _Rule("choices", options=tuple(options)))


def _item_rule(item: Any) -> _Rule:
    if isinstance(item, _Rule):
        return item
    return item.metadata[_RULE]  # a field made by one of the makers


def sequence(default: tuple[Any, ...], item: Any, *, min_items: int = 0,
             distinct: bool = False) -> Any:
    """A list whose items each follow ``item`` (a field maker's result, e.g.
    ``integer(0, 1)``; its default is ignored), with at least ``min_items`` of them."""
    return _field(default, _Rule("sequence", item=_item_rule(item), min_items=min_items,
                                 distinct=distinct))


def interval(default: tuple[float, float], low: float | None = None, high: float | None = None,
             *, low_open: bool = False, integers: bool = False) -> Any:
    """A pair ``[lo, hi]`` with ``lo <= hi``, ``lo`` above ``low`` and ``hi`` at most ``high``;
    ints when ``integers``, else finite numbers."""
    return _field(default, _Rule("interval", low, high, low_open,
                                 item=_Rule("int" if integers else "number")))


def number_or_interval(default: float | tuple[float, float], low: float | None = None, *,
                       low_open: bool = False) -> Any:
    """A finite number above ``low``, or a pair ``[lo, hi]`` of them (one drawn per use)."""
    return _field(default, _Rule("number_or_interval", low, None, low_open))


def seeds(default: int | tuple[int, ...], *, min_items: int = 1) -> Any:
    """A seed (an int in ``[0, MAX_SEED]``) or a list of at least ``min_items`` seeds."""
    return _field(default, _Rule("seeds", min_items=min_items))


def section(default: Any) -> Any:
    """A nested configuration (a TOML table), of ``type(default)``."""
    return _field(default, _Rule("section", section=type(default)))


# ----------------------------------------------------------------------------- the validator


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _bounds(rule: _Rule) -> str:
    parts = []
    if rule.low is not None:
        parts.append(f"{'>' if rule.low_open else '>='} {rule.low}")
    if rule.high is not None:
        parts.append(f"{'<' if rule.high_open else '<='} {rule.high}")
    return " and ".join(parts)


def _inside(value: float, rule: _Rule) -> bool:
    if rule.low is not None and (value <= rule.low if rule.low_open else value < rule.low):
        return False
    high = rule.high
    return not (high is not None and (value >= high if rule.high_open else value > high))


def _shown(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _check(value: Any, rule: _Rule, where: str) -> Any:
    """``value`` as the field keeps it (lists as tuples, ints of float fields as floats).

    Raises:
      ConfigError: ``where`` and what it must be.
    """
    kind = rule.kind
    why = f" ({rule.why})" if rule.why else ""
    if kind == "int":
        if not _is_int(value) or not _inside(value, rule):
            raise ConfigError(f"{where} must be an int {_bounds(rule)}{why}, got {value!r}")
        return int(value)
    if kind == "number":
        if not (_is_real(value) and _finite(value) and _inside(value, rule)):
            bounds = f" {_bounds(rule)}" if _bounds(rule) else ""
            raise ConfigError(f"{where} must be a finite number{bounds}, got {value!r}")
        return float(value)
    if kind == "flag":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if kind == "text":
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if kind == "choice":
        if not isinstance(value, str) or value not in rule.options:
            raise ConfigError(f"{where} must be one of {sorted(rule.options)}, got {value!r}")
        return value
    if kind == "choices":
        if isinstance(value, tuple | list):
            for i, v in enumerate(value):
                _check(v, dataclasses.replace(rule, kind="choice"), f"{where}[{i}]")
        if isinstance(value, str):
            ok = value in rule.options
        else:
            ok = (isinstance(value, tuple | list) and len(value) > 0
                  and len(set(value)) == len(value))
        if not ok:
            raise ConfigError(f"{where} must be one of {sorted(rule.options)} or a non-empty "
                              f"list of distinct ones, got {_shown(value)!r}")
        return value if isinstance(value, str) else tuple(value)
    if kind == "sequence":
        if not isinstance(value, tuple | list):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        if len(value) < rule.min_items:
            raise ConfigError(f"{where} must hold at least {rule.min_items} item(s), got "
                              f"{_shown(value)!r}")
        assert rule.item is not None
        items = tuple(_check(v, rule.item, f"{where}[{i}]") for i, v in enumerate(value))
        if rule.distinct and len(set(items)) != len(items):
            raise ConfigError(f"{where} must not repeat an item, got {_shown(value)!r}")
        return items
    if kind == "interval":
        assert rule.item is not None
        integers = rule.item.kind == "int"
        if isinstance(value, tuple | list) and len(value) == 2:
            for i, v in enumerate(value):
                _check(v, rule.item, f"{where}[{i}]")
        ok = (isinstance(value, tuple | list) and len(value) == 2
              and all(_is_int(v) if integers else (_is_real(v) and _finite(v)) for v in value))
        if ok:
            lo, hi = value
            ok = lo <= hi and _inside(lo, _Rule("", rule.low, None, rule.low_open)) \
                and _inside(hi, _Rule("", None, rule.high))
        if not ok:
            rules = ["ints" if integers else "finite numbers", "lo <= hi"]
            if rule.low is not None:
                rules.append(f"lo {'>' if rule.low_open else '>='} {rule.low}")
            if rule.high is not None:
                rules.append(f"hi <= {rule.high}")
            raise ConfigError(f"{where} must be [lo, hi] ({', '.join(rules)}), got "
                              f"{_shown(value)!r}")
        return tuple(value)
    if kind == "number_or_interval":
        plain = _Rule("number", rule.low, None, rule.low_open)
        if isinstance(value, tuple | list):
            return _check(value, dataclasses.replace(plain, kind="interval", item=_Rule("number")),
                          where)
        return _check(value, plain, where)
    if kind == "seeds":
        items = value if isinstance(value, tuple | list) else (value,)
        if len(items) < rule.min_items:
            raise ConfigError(f"{where} must list at least {rule.min_items} seed(s), got "
                              f"{_shown(value)!r}")
        what = "hold ints" if isinstance(value, tuple | list) else "be an int"
        for item in items:
            if not _is_int(item) or not 0 <= item <= MAX_SEED:
                raise ConfigError(f"{where} must {what} in [0, {MAX_SEED}] (2**32 - 1: a JAX "
                                  f"key keeps 32 bits of a seed), got {item!r}")
        return tuple(value) if isinstance(value, tuple | list) else value
    if kind == "section":
        assert rule.section is not None
        if not isinstance(value, rule.section):
            raise ConfigError(f"{where} must be a {rule.section.__name__}, got "
                              f"{type(value).__name__}")
        return value
    raise AssertionError(f"unknown rule kind {kind!r}")


def validate(config: Any) -> None:
    """Checks every field of a config against its declared rule, then the class's ``_check``
    (rules across fields). Lists are stored as tuples.

    Raises:
      ConfigError: naming the first field (``ClassName.field``) that breaks its rule.
    """
    name = type(config).__name__
    for field in dataclasses.fields(config):
        rule = field.metadata.get(_RULE)
        if rule is None:
            raise AssertionError(f"{name}.{field.name} declares no rule (use a field maker of "
                                 "acbo_core.configs)")
        value = getattr(config, field.name)
        kept = _check(value, rule, f"{name}.{field.name}")
        if kept is not value:
            object.__setattr__(config, field.name, kept)
    check = getattr(config, "_check", None)
    if check is not None:
        check()


def configclass(cls: type[C] | None = None, *, eq: bool = True) -> Any:
    """Makes ``cls`` a frozen configuration dataclass checked by :func:`validate` when built.

    Every field must be declared with a field maker of this module (that is the rule it is
    checked by); a ``_check(self)`` method, if the class has one, runs after the fields' rules.
    """

    def wrap(klass: type[C]) -> type[C]:
        klass.__post_init__ = validate  # type: ignore[attr-defined]
        return dataclasses.dataclass(frozen=True, eq=eq)(klass)

    return wrap if cls is None else wrap(cls)


# ------------------------------------------------------------------------- reading and writing


def _rule_of(cls: type, name: str) -> _Rule:
    field = cls.__dataclass_fields__[name]  # type: ignore[attr-defined]
    return field.metadata[_RULE]


def from_dict(cls: type[C], data: Mapping[str, Any], path: str = "") -> C:
    """Builds a configuration from a mapping (a TOML or JSON table); fields left out keep their
    defaults, nested configurations take nested tables.

    Raises:
      ConfigError: an unknown key or a value its field refuses, named by its dotted key
        (``surrogate.learning_rate``).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or cls.__name__}: expected a table, got "
                          f"{type(data).__name__}")
    fields = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in fields:
            raise ConfigError(f"unknown configuration key {where!r}; known keys: "
                              f"{sorted(fields)}")
        rule = _rule_of(cls, key)
        if rule.kind == "section" and isinstance(value, Mapping):
            assert rule.section is not None
            value = from_dict(rule.section, value, where)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise ConfigError(_keyed(str(err), cls, set(fields), path)) from None


def _keyed(message: str, cls: type, fields: set[str], path: str) -> str:
    """A check's message with ``ClassName.field`` replaced by the field's dotted key."""
    prefix = f"{cls.__name__}."
    if message.startswith(prefix):
        message = message[len(prefix):]
    else:
        head = re.match(r"[A-Za-z_]\w*", message)
        if head is None or head.group() not in fields:
            return f"{path}: {message}" if path else message
    return f"{path}.{message}" if path else message


def to_dict(config: Any) -> dict[str, Any]:
    """A configuration as plain data for JSON or TOML (tuples become lists); the inverse of
    :func:`from_dict`."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    return plain(config)


def load_toml(path: str | pathlib.Path) -> dict[str, Any]:
    """Reads a TOML file.

    Raises:
      ConfigError: the file is missing, unreadable (a directory, no permission), not UTF-8
        text, or not valid TOML (with the parser's line and column); the message names it.
    """
    where = f"config file {str(path)!r}"
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{where} is a directory, not a TOML file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{where} is not UTF-8 text ({err.reason} at byte {err.start})"
                          ) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{where} is not valid TOML: {err}") from None
    except RecursionError:
        raise ConfigError(f"{where} is nested too deeply") from None
    except OSError as err:
        raise ConfigError(f"cannot read {where}: {err.strerror or err}") from None


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Applies ``a.b.c=value`` overrides (values parsed as TOML, else taken as strings).

    Raises:
      ConfigError: an override without ``=``, or data nested too deeply.
    """
    try:
        out: dict[str, Any] = _deep_copy(data)
    except RecursionError:
        raise ConfigError("the configuration is nested too deeply") from None
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        dotted, raw = item.split("=", 1)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        except RecursionError:
            raise ConfigError(f"override {dotted!r}: the value is nested too deeply") from None
        node = out
        keys = dotted.strip().split(".")
        for k in keys[:-1]:
            nxt = node.setdefault(k, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {dotted!r}: {k!r} is not a table")
            node = nxt
        node[keys[-1]] = value
    return out


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}

